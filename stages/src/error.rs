use std::path::PathBuf;

/// Errors of the stages. "Your input is wrong" variants name the file or field and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] amt_cache::Error),

    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("invalid configuration for stage `{stage}`: {reason}")]
    Config { stage: String, reason: String },

    /// The stage's inputs could not be read while planning (a missing folder, an unreadable
    /// file); not a configuration problem.
    #[error("stage `{stage}` cannot start: {reason}")]
    Plan { stage: String, reason: String },

    #[error("dataset `{dataset}` has no folder at `{path}`")]
    MissingDataset { dataset: String, path: PathBuf },

    #[error("dataset `{dataset}` changed while `{stage}` ran (input `{input}`); run again")]
    InputChanged {
        dataset: String,
        stage: String,
        input: String,
    },

    /// The dataset's folder does not have the layout its adapter reads.
    #[error("dataset `{dataset}` ({adapter} layout): {reason}")]
    Layout {
        dataset: String,
        adapter: String,
        reason: String,
    },

    /// An artifact table (Parquet) could not be read.
    #[error("cannot read table `{path}`: {reason}")]
    Table { path: PathBuf, reason: String },

    /// A download failed (network, HTTP status, checksum).
    #[error(transparent)]
    Fetch(Box<crate::download::FetchError>),

    /// An archive was unsafe, too large or unreadable.
    #[error(transparent)]
    Archive(Box<crate::archive::ArchiveError>),

    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
