//! Symbolic half of the YourMT3+ pipeline in pure Rust: MIDI and annotations -> notes -> note
//! events -> tokens for the released tasks, and tokens -> notes -> MIDI for evaluation.
//!
//! Facts come from `shared/spec/yourmt3.md` (sections 1.2, 1.3, 4) and the YourMT3 sources at
//! luck058/YourMT3 `710a835`; deviations (bug fixes) are listed in README.md.

pub mod datasets;
pub mod decode;
pub mod error;
pub mod events;
pub mod midi;
pub mod note;
pub mod tokenizer;
pub mod transpose;
pub mod vocab;
pub mod write_midi;

pub use decode::{
    DecodeErrorKind, DecodedSegment, ErrorCounts, decode_file, decode_tokens, merge_segments,
    note_events_to_notes,
};
pub use error::{Error, Result};
pub use events::{NoteEvent, NoteEventList, SegmentEvents};
pub use midi::{MidiNotes, MidiToNotesConfig, midi_to_notes};
pub use note::{Note, mix_notes, sort_notes, trim_overlapping_notes, validate_notes};
pub use tokenizer::{
    Encoded, SEGMENT_SEC, Task, TaskName, note_events_to_events, segment_start_times,
    segment_start_times_for_samples,
};
pub use transpose::{transpose_notes, transpose_tokens};
pub use vocab::{Event, Token, token_name};
pub use write_midi::notes_to_midi;
