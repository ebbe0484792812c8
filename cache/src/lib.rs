//! The artifact store: content-addressed, atomically published stage outputs.
//!
//! Layout of a store root (see `docs/ARCHITECTURE.md` for the lock model):
//! ```text
//! AMT_STORE                            marker: this folder is an amt store
//! artifacts/<stage>/<slot>/<key>/      one immutable published artifact: manifest.json + files
//! refs/<stage>/<slot>.json             the key the last successful build published for that pair
//! locks/<stage>/<slot>.lock            writer lock of (stage, slot); readers take no lock
//! partial/<stage>/<slot>/<key>/<part>/ finished parts of a build not yet published (resume)
//! pins/<pid>-<n>.json                  artifacts a live process reads (locked by that process)
//! runs/<id>/                           long-lived work (training): pins.json, state, run.lock
//! memo/<root-hash>.json                (path, size, mtime, inode) -> blake3 fingerprint memo
//! datasets/<name>.json                 folders given to --datasets as paths
//! tmp/                                 temporary folders, each with a `.owner` lock
//! ```
//! A key is blake3 over (stage, stage version, canonical config, input keys): see [`key`].

pub mod atomic;
pub mod canonical;
pub mod error;
pub mod fingerprint;
pub mod key;
pub mod lock;
pub mod manifest;
mod memo;
pub mod noop;
pub mod parts;
pub mod pins;
pub mod slot;
pub mod store;
pub mod time;
pub mod writer;

pub use error::{Error, Result};
pub use key::{Key, KeySpec};
pub use manifest::{FileEntry, Manifest, PartEntry};
pub use parts::{Part, PartArea, PartWriter};
pub use pins::{Pin, PinGuard, Run};
pub use slot::Slot;
pub use store::{Artifact, ArtifactWriter, Damage, Store};
pub use writer::{FileSink, TableWriter};
