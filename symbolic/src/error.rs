//! The crate's single error type.

use std::path::PathBuf;

/// Everything that can go wrong in `amt-symbolic`. Inputs (MIDI bytes, annotations, token
/// sequences) come from outside, so every problem is reported here instead of panicking.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a Standard MIDI File midly can read.
    #[error("cannot parse MIDI: {0}")]
    Midi(#[from] midly::Error),
    /// The file ends before a chunk or an event it declares (a cut-off download or copy).
    /// midly reads such files leniently (whatever precedes the cut); we refuse them.
    #[error("truncated MIDI file: {0}")]
    TruncatedMidi(String),
    /// Format 2 holds independent sequences with no common time line (mido refuses them too).
    #[error("MIDI format 2 (sequential tracks) is not supported; expected format 0 or 1")]
    UnsupportedMidiFormat,
    /// A note-on arrived on a channel that never got a program, and no default was configured.
    #[error(
        "note_on on channel {channel} at {time:.3} s before any program_change; set `force_all_program_to` in MidiToNotesConfig"
    )]
    MissingProgram { channel: u8, time: f64 },
    /// A note cannot become note events (NaN time, non-drum offset not after onset, pitch > 127).
    #[error("note {index} is invalid: {reason}")]
    InvalidNote { index: usize, reason: String },
    /// An event has no token in the 596-token vocabulary (e.g. program 129 or a shift > 205).
    #[error("event `{event}` has no token in the vocabulary")]
    Unencodable { event: String },
    /// Unknown task name.
    #[error("unknown task `{0}`; expected `mt3_full_plus` or `mc13_full_plus_256`")]
    UnknownTask(String),
    /// File system error, with the path it concerns.
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A dataset annotation or metadata file is malformed; `path` names the file.
    #[error("invalid annotation file `{path}`: {reason}")]
    InvalidAnnotation { path: PathBuf, reason: String },
}

/// Result alias with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn annotation(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::InvalidAnnotation {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
