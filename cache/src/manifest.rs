//! The manifest written beside every artifact's files: what it is, what made it, what it holds.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Key, Result, Slot};

pub const FILE_NAME: &str = "manifest.json";
/// Bumped when the manifest layout changes; older manifests are then read as invalid.
/// v2: `slot` (was `dataset`) and `parts`.
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub key: Key,
    pub stage: String,
    pub stage_version: u32,
    pub slot: Slot,
    /// Input name -> key (upstream stage) or content digest (external input).
    pub inputs: BTreeMap<String, String>,
    /// The stage's resolved configuration section, as hashed into the key.
    pub config: Value,
    pub files: Vec<FileEntry>,
    /// Track-grained stages: each part (a track, or a bucket of tracks) with the digest of its
    /// own inputs and its files, so that the next build reuses the parts whose inputs did not
    /// change. Empty for stages that build as a whole.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parts: BTreeMap<String, PartEntry>,
    pub wall_time_s: f64,
    pub tool_version: String,
    pub created_at: String,
    /// Stage-specific facts worth showing (counts of tracks, problems, bytes hashed...).
    #[serde(default)]
    pub summary: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the artifact folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub blake3: String,
    /// The table this file belongs to, for Parquet tables `amt sql` registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// One part of a track-grained artifact (see [`Manifest::parts`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartEntry {
    /// blake3 of what the part was computed from (its own input files, upstream parts, config).
    pub digest: String,
    /// The part's folder inside the artifact (`parts/<id>`); its files are listed in
    /// [`Manifest::files`] under that prefix.
    pub dir: String,
    /// The input files the part depends on (dataset-relative path -> blake3), so that
    /// `amt status` can say which file of which track changed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub deps: BTreeMap<String, String>,
    /// Facts the stage recorded for the part (row counts...).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub summary: Value,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = fs_err::read(path)?;
        if bytes.is_empty() {
            return Err(Error::BadManifest {
                path: path.to_owned(),
                reason: "the file is empty".into(),
            });
        }
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::BadManifest {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        if m.format != FORMAT {
            return Err(Error::BadManifest {
                path: path.to_owned(),
                reason: format!(
                    "format {} but this amt reads format {FORMAT}; rebuild with `amt run`",
                    m.format
                ),
            });
        }
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serializes")
    }

    /// Rows per table, summed over the table's files.
    pub fn table_rows(&self) -> BTreeMap<&str, u64> {
        let mut out = BTreeMap::new();
        for f in &self.files {
            if let Some(t) = &f.table {
                *out.entry(t.as_str()).or_insert(0) += f.rows.unwrap_or(0);
            }
        }
        out
    }
}
