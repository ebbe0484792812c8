//! What every command needs: the data home, the store, the configuration, the graph.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use amt_cache::Store;

use crate::config::Config;
use crate::graph::Graph;

pub struct Context {
    pub data_home: PathBuf,
    pub store_root: PathBuf,
    pub config: Config,
    /// The config file given with `--config`, if any (else `<data home>/amt.toml` is read
    /// when it exists).
    pub config_file: Option<PathBuf>,
    pub graph: Graph,
    pub quiet: bool,
    pub cancel: Arc<AtomicBool>,
}

/// `$XDG_DATA_HOME/amt`, else `~/.local/share/amt`.
pub fn default_data_home() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("amt");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".local").join("share").join("amt")
}

/// The store lives under the data home unless `--store` / `AMT_STORE` says otherwise.
pub fn default_store(data_home: &Path) -> PathBuf {
    data_home.join(".amt").join("store")
}

impl Context {
    pub fn open_store(&self) -> amt_cache::Result<Store> {
        Store::open(&self.store_root)
    }
}
