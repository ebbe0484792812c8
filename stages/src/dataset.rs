//! A dataset as the stages see it: a name, the local folder that holds it, and where that
//! folder comes from (already on disk, or an archive to download and extract).

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetSpec {
    /// The dataset's name: the `dataset` column of every table and part of the store layout.
    pub name: String,
    /// Its local folder (`<data home>/<name>` unless configured otherwise).
    pub folder: PathBuf,
    /// Where the folder comes from: decides whether `extract` reads `download`.
    pub source: Source,
    /// The adapter that reads the dataset (`slakh`, `maestro`, `guitarset`), chosen once for
    /// every stage that uses one: configured, or implied by the name; `None` when none applies.
    pub adapter: Option<String>,
    /// The adapter's own options (`[dataset.D.adapter]` of amt.toml), as text; validated by
    /// the adapter ([`crate::adapters::configured`]) and part of every key that uses it.
    pub adapter_options: BTreeMap<String, String>,
}

impl DatasetSpec {
    /// A dataset whose folder is already on disk.
    pub fn local(name: impl Into<String>, folder: impl Into<PathBuf>) -> DatasetSpec {
        let name = name.into();
        DatasetSpec {
            adapter: crate::adapters::detect(&name).map(str::to_string),
            name,
            folder: folder.into(),
            source: Source::Local,
            adapter_options: BTreeMap::new(),
        }
    }

    /// The archive the folder is made from, when it is not on disk yet.
    pub fn archive(&self) -> Option<&ArchiveSource> {
        match &self.source {
            Source::Local => None,
            Source::Archive(a) => Some(a),
        }
    }
}

/// Where a dataset's folder comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Source {
    /// The folder is on disk (`--nodown`, a dataset not in the registry, an installed one).
    #[default]
    Local,
    /// The folder is extracted from an archive that `download` fetches and verifies.
    Archive(ArchiveSource),
}

/// A dataset archive: what `download` fetches and `extract` unpacks. The access token is
/// deliberately absent: it is never part of a key, a config or a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveSource {
    pub url: String,
    /// The registry's md5 (lower-case hex); the download is published only if it matches.
    pub md5: String,
    /// Needs a Zenodo access token.
    pub restricted: bool,
    /// Where verified archives are kept (`<data home>/.amt/downloads`).
    pub downloads_dir: PathBuf,
}

/// Dataset names become folder names and SQL values: keep them to a safe alphabet.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid dataset name (use letters, digits, `_`, `-`, `.`; not starting with `.`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("slakh").is_ok());
        assert!(validate_name("maestro-v3.0").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("../etc").is_err());
        assert!(validate_name(".hidden").is_err());
        assert!(validate_name("a b").is_err());
    }
}
