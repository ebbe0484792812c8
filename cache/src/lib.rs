//! The artifact store: content-addressed, atomically published stage outputs.
//!
//! Layout of a store root:
//! ```text
//! lock                                  advisory lock (exclusive for writers, shared for readers)
//! artifacts/<stage>/<dataset>/<key>/    one immutable published artifact: manifest.json + files
//! refs/<stage>/<dataset>.json           the key the last successful run published for that pair
//! memo/<root-hash>.json                 (path, size, mtime, inode) -> blake3 fingerprint memo
//! tmp/                                  artifacts being written; never read, cleared by writers
//! ```
//! A key is blake3 over (stage, stage version, canonical config, input keys): see [`key`].

pub mod atomic;
pub mod canonical;
pub mod error;
pub mod fingerprint;
pub mod key;
pub mod lock;
pub mod manifest;
pub mod store;
pub mod time;

pub use error::{Error, Result};
pub use key::{Key, KeySpec};
pub use manifest::{FileEntry, Manifest};
pub use store::{Artifact, ArtifactWriter, Store};
