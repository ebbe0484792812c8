//! Which datasets a command works on, and where their folders are.
//!
//! A dataset is addressed by name; its folder is `[dataset.NAME] folder` from the config, else
//! the folder recorded when it was last given as a path, else `<data home>/NAME`. `--datasets`
//! also takes paths (`--datasets ./fixtures/slakh`): the name is the folder's name.
//!
//! A dataset of the registry (`amt install --list`) whose folder is not on disk yet comes from
//! its archive: `extract` then reads `download` ([`amt_stages::dataset::Source::Archive`]).
//! Everything else, and everything with `--nodown`, is a local folder, as before.

use std::path::{Path, PathBuf};

use amt_cache::Store;
use amt_stages::DatasetSpec;
use amt_stages::dataset::{ArchiveSource, Source, validate_name};
use amt_stages::registry::Registry;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}")]
    BadName(String),
    #[error("no datasets given and none known yet")]
    NoneKnown,
    #[error("`{0}` names a folder with no usable name")]
    BadPath(PathBuf),
    #[error("could not generate the dataset `{0}`: {1}")]
    Generate(String, String),
    #[error(
        "the name of dataset `{0}` matches the adapters {1}; say which one reads it: \
         `[dataset.{0}] adapter = \"...\"` in amt.toml"
    )]
    AmbiguousAdapter(String, String),
    #[error("`[dataset.{0}.adapter]` in amt.toml: {1}")]
    AdapterOptions(String, String),
    #[error(transparent)]
    Store(#[from] amt_cache::Error),
}

fn recorded_path(store: &Store, name: &str) -> PathBuf {
    store.root().join("datasets").join(format!("{name}.json"))
}

fn recorded_folder(store: &Store, name: &str) -> Option<PathBuf> {
    let bytes = std::fs::read(recorded_path(store, name)).ok()?;
    let s: String = serde_json::from_slice(&bytes).ok()?;
    Some(PathBuf::from(s))
}

/// Remembers where a dataset's folder is (an installed registry dataset, a path given once).
/// Unchanged, the file is left alone (a run that builds nothing writes nothing).
pub fn record_folder(store: &Store, name: &str, folder: &Path) -> Result<(), DatasetError> {
    if recorded_folder(store, name).as_deref() == Some(folder) {
        return Ok(());
    }
    let json = serde_json::to_vec(&folder.display().to_string()).expect("string serializes");
    amt_cache::atomic::write_file(&recorded_path(store, name), &json)?;
    Ok(())
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s == "." || s == ".."
}

/// Where registry datasets come from.
pub struct Sources<'a> {
    pub registry: &'a Registry,
    /// Use what is on disk; never download (`--nodown`).
    pub nodown: bool,
}

/// Where verified archives are kept.
pub fn downloads_dir(data_home: &Path) -> PathBuf {
    data_home.join(".amt").join("downloads")
}

/// Resolves `--datasets` (or, when empty, every dataset the config or the store knows), with
/// the bundled registry.
pub fn resolve(
    requested: &[String],
    data_home: &Path,
    config: &Config,
    store: &Store,
) -> Result<Vec<DatasetSpec>, DatasetError> {
    let registry = Registry::bundled();
    let sources = Sources {
        registry: &registry,
        nodown: false,
    };
    resolve_with(requested, data_home, config, store, &sources)
}

/// [`resolve`] with a given registry and `--nodown`.
pub fn resolve_with(
    requested: &[String],
    data_home: &Path,
    config: &Config,
    store: &Store,
    sources: &Sources<'_>,
) -> Result<Vec<DatasetSpec>, DatasetError> {
    let mut out: Vec<DatasetSpec> = Vec::new();
    let names: Vec<String> = if requested.is_empty() {
        let mut names: Vec<String> = config.file.dataset.keys().cloned().collect();
        // Datasets some stage was built for. Only dataset slots name datasets: variants,
        // eval runs and presets live in slots of other forms (see `amt_cache::Slot`).
        for r in store.refs()? {
            if let amt_cache::Slot::Dataset(d) = r.slot {
                names.push(d);
            }
        }
        names.sort();
        names.dedup();
        if names.is_empty() {
            return Err(DatasetError::NoneKnown);
        }
        names
    } else {
        requested.to_vec()
    };
    for item in names {
        let spec = if looks_like_path(&item) {
            let folder = std::path::absolute(&item).unwrap_or_else(|_| PathBuf::from(&item));
            let folder = folder.canonicalize().unwrap_or(folder);
            let name = folder
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| DatasetError::BadPath(folder.clone()))?
                .to_string();
            validate_name(&name).map_err(DatasetError::BadName)?;
            if folder.is_dir() {
                record_folder(store, &name, &folder)?;
            }
            DatasetSpec::local(name, folder)
        } else {
            validate_name(&item).map_err(DatasetError::BadName)?;
            let entry = sources.registry.get(&item);
            let folder = config
                .dataset_folder(&item)
                .map(Path::to_owned)
                .or_else(|| recorded_folder(store, &item))
                .or_else(|| Some(data_home.join(&item)).filter(|f| f.is_dir()))
                .or_else(|| entry.map(|e| data_home.join(&e.folder)))
                .unwrap_or_else(|| data_home.join(&item));
            let archive = entry
                .and_then(|e| e.archive().map(|(url, md5)| (e, url, md5)))
                .filter(|_| !sources.nodown && !folder.is_dir());
            let source = match archive {
                Some((e, url, md5)) => Source::Archive(ArchiveSource {
                    url: url.to_string(),
                    md5: md5.to_ascii_lowercase(),
                    restricted: e.restricted,
                    downloads_dir: downloads_dir(data_home),
                }),
                None => Source::Local,
            };
            DatasetSpec {
                // The registry names the adapter of its datasets; other names imply one.
                adapter: entry
                    .and_then(|e| e.adapter.clone())
                    .or_else(|| amt_stages::adapters::detect(&item).map(str::to_string)),
                name: item,
                folder,
                source,
                adapter_options: Default::default(),
            }
        };
        let mut spec = spec;
        // The built-in dataset is generated where it is missing (atomically), then read like
        // any local folder.
        if spec.name == amt_stages::synth::NAME && !spec.folder.exists() {
            tracing::info!(
                "generating the built-in dataset `{}` into `{}`",
                spec.name,
                spec.folder.display()
            );
            amt_stages::synth::generate(&spec.folder, &amt_stages::synth::SynthConfig::default())
                .map_err(|e| DatasetError::Generate(spec.name.clone(), e.to_string()))?;
        }
        spec.adapter_options = config.dataset_adapter_options(&spec.name);
        if let Some(a) = config.dataset_adapter(&spec.name) {
            spec.adapter = Some(a);
        } else if spec.adapter.is_none() {
            let matches = amt_stages::adapters::detect_all(&spec.name);
            if matches.len() > 1 {
                return Err(DatasetError::AmbiguousAdapter(
                    spec.name.clone(),
                    matches.join(", "),
                ));
            }
        }
        match spec.adapter.as_deref() {
            Some(a) => {
                amt_stages::adapters::configured(a, &spec.adapter_options)
                    .map_err(|e| DatasetError::AdapterOptions(spec.name.clone(), e))?;
            }
            None if !spec.adapter_options.is_empty() => {
                return Err(DatasetError::AdapterOptions(
                    spec.name.clone(),
                    "options are given but no adapter is chosen; add `name = \"...\"`".into(),
                ));
            }
            None => {}
        }
        if !out.iter().any(|d| d.name == spec.name) {
            out.push(spec);
        }
    }
    Ok(out)
}
