use std::path::PathBuf;

/// Errors of the artifact store. I/O errors carry their path (through `fs_err`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] std::io::Error),

    #[error("the manifest `{path}` is not valid: {reason}")]
    BadManifest { path: PathBuf, reason: String },

    #[error("could not write the Parquet file `{path}`")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },

    #[error("the store at `{path}` is locked by another amt process{holder}")]
    Locked { path: PathBuf, holder: String },

    #[error("`{0}` is not a valid artifact key (expected 64 lowercase hex digits)")]
    BadKey(String),

    #[error("interrupted")]
    Interrupted,

    #[error("internal error: {0}; please report this as a bug")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
