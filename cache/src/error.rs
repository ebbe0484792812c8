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

    #[error(
        "{what} is locked by another amt process{holder}, which is writing it (lock `{path}`); wait for it, or run without `--no-wait` to wait"
    )]
    Locked {
        what: String,
        path: PathBuf,
        holder: String,
    },

    #[error("the ref `{path}` is damaged: {reason}")]
    BadRef { path: PathBuf, reason: String },

    #[error("`{0}` is not a valid slot (a dataset name, `DATASET@VARIANT` or `+KIND:NAME`)")]
    BadSlot(String),

    #[error(
        "`{path}` is not an amt store: it is not empty and has no `{marker}` file; amt only writes and deletes inside stores it created"
    )]
    NotAStore { path: PathBuf, marker: &'static str },

    #[error(
        "`{path}` is a symbolic link; amt never writes or deletes through links inside its store"
    )]
    SymlinkInStore { path: PathBuf },

    #[error("an artifact already holds a file `{path}`: each file (and table) is written once")]
    Duplicate { path: String },

    #[error("run `{id}`: {reason}")]
    Run { id: String, reason: String },

    #[error("`{0}` is not a valid artifact key (expected 64 lowercase hex digits)")]
    BadKey(String),

    #[error("interrupted")]
    Interrupted,

    #[error("internal error: {0}; please report this as a bug")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
