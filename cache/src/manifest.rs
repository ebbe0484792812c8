//! The manifest written beside every artifact's files: what it is, what made it, what it holds.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Key, Result};

pub const FILE_NAME: &str = "manifest.json";
/// Bumped when the manifest layout changes; older manifests are then read as invalid.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub key: Key,
    pub stage: String,
    pub stage_version: u32,
    pub dataset: String,
    /// Input name -> key (upstream stage) or content digest (external input).
    pub inputs: BTreeMap<String, String>,
    /// The stage's resolved configuration section, as hashed into the key.
    pub config: Value,
    pub files: Vec<FileEntry>,
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

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let bytes = fs_err::read(path)?;
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
