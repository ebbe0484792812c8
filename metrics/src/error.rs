//! The crate's single error type.

/// Everything that can go wrong: all variants are "your input is wrong"; the
/// metrics themselves cannot fail on valid input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// mir_eval rejects negative times and non-positive durations; we also
    /// reject NaN and infinite times, which mir_eval lets through silently.
    #[error(
        "{side} interval {index} is invalid: [{onset}, {offset}] (times must be finite and >= 0, and offset > onset)"
    )]
    InvalidInterval {
        side: Side,
        index: usize,
        onset: f64,
        offset: f64,
    },
    /// Pitches are compared in cents (log2), so they must be positive Hz.
    #[error("{side} pitch {index} is {value} Hz, expected a finite value > 0")]
    InvalidPitch {
        side: Side,
        index: usize,
        value: f64,
    },
    /// Velocities are rescaled and regressed; negative values are meaningless.
    #[error("{side} velocity {index} is {value}, expected a finite value >= 0")]
    InvalidVelocity {
        side: Side,
        index: usize,
        value: f64,
    },
    /// Parallel arrays (intervals, pitches, velocities) must line up.
    #[error("{side} {what} has {found} entries, but there are {expected} intervals")]
    LengthMismatch {
        side: Side,
        what: &'static str,
        expected: usize,
        found: usize,
    },
    /// A vocabulary looked up by a name we do not know.
    #[error("unknown {kind} vocabulary `{name}`; valid names: {}", valid.join(", "))]
    UnknownVocab {
        kind: &'static str,
        name: String,
        valid: Vec<&'static str>,
    },
    /// mir_eval.multipitch refuses frame times past 30000 s; a roll that
    /// long is also a sign of times not given in seconds.
    #[error(
        "{side} notes end at {seconds} s, past mir_eval's {max} s limit for frame metrics (are times in seconds?)"
    )]
    TooLong { side: Side, seconds: f64, max: f64 },
    /// A tolerance or hop that would make the metric meaningless.
    #[error("parameter `{name}` is {value}, expected {expected}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        expected: &'static str,
    },
}

/// Which side of the comparison an input belongs to, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Reference,
    Estimate,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Reference => "reference",
            Side::Estimate => "estimated",
        })
    }
}

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
