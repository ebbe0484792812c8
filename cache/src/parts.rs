//! Parts: the unit of work of track-grained stages (a track, or a bucket of tracks).
//!
//! While a stage builds the artifact of (stage, slot, key), each finished part is published
//! atomically into that build's part area, `partial/<stage>/<slot>/<key>/<part>/`, with a
//! `part.json` naming its input digest and its files with their hashes. The area outlives the
//! process: after a kill -9 or Ctrl-C, the next build of the same key finds the finished parts
//! and computes only the missing ones. A part whose digest equals the one recorded in the
//! slot's previous artifact is not computed either: its files are hard-linked from there.
//! When every part is done, the artifact links the parts' files (hashes kept, nothing read
//! back) and the area is removed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::PartEntry;
use crate::writer::{FileList, FileRegistry, FileSink, TableWriter, link_file};
use crate::{Artifact, FileEntry, Key, Result, Slot, Store, atomic};

const RECORD: &str = "part.json";

/// A finished part: what it was computed from and what it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// The part's id (a track id, a bucket name).
    pub unit: String,
    /// blake3 of its inputs; a part is reused only when this matches.
    pub digest: String,
    /// Its files, relative to the part's folder.
    pub files: Vec<FileEntry>,
    /// The dataset files it depends on, with their blake3 (for `amt status`).
    #[serde(default)]
    pub deps: BTreeMap<String, String>,
    #[serde(default)]
    pub summary: Value,
}

impl Part {
    /// The part's folder name: a hash of its id, since ids may hold any character.
    pub fn dir_name(&self) -> String {
        dir_name(&self.unit)
    }
}

/// The folder name of the part of `unit` (`parts/<this>/` in an artifact): a hash of its id,
/// since ids may hold any character.
pub fn part_dir_name(unit: &str) -> String {
    dir_name(unit)
}

fn dir_name(unit: &str) -> String {
    blake3::hash(unit.as_bytes()).to_hex()[..20].to_string()
}

/// The part area of one build (see the module doc). Only the holder of the slot's lock uses
/// it.
#[derive(Debug, Clone)]
pub struct PartArea {
    dir: PathBuf,
}

impl Store {
    /// The part area of the build of (stage, slot, key); unfinished parts of a killed writer
    /// are removed.
    pub fn part_area(&self, stage: &str, slot: &Slot, key: &Key) -> Result<PartArea> {
        let dir = self.part_area_dir(stage, slot, key);
        fs_err::create_dir_all(&dir)?;
        for name in crate::store::sorted_dir_names(&dir)? {
            if name.starts_with('.') {
                fs_err::remove_dir_all(dir.join(name))?;
            }
        }
        Ok(PartArea { dir })
    }

    fn part_area_dir(&self, stage: &str, slot: &Slot, key: &Key) -> PathBuf {
        self.root()
            .join("partial")
            .join(stage)
            .join(slot.to_string())
            .join(key.as_str())
    }

    /// Removes the part area of a build, if it has one (its artifact is published, or the
    /// caller gives the build up). The caller holds the slot's lock.
    pub fn discard_parts(&self, stage: &str, slot: &Slot, key: &Key) -> Result<()> {
        let dir = self.part_area_dir(stage, slot, key);
        if dir.exists() {
            self.remove_under(&dir, "parts")?;
        }
        Ok(())
    }

    /// Part areas of builds that did not finish: (stage, slot, key folder, finished parts).
    pub fn part_areas(&self) -> Result<Vec<(String, String, PathBuf, usize)>> {
        let base = self.root().join("partial");
        let mut out = Vec::new();
        for stage in crate::store::sorted_dir_names(&base)? {
            for slot in crate::store::sorted_dir_names(&base.join(&stage))? {
                for key in crate::store::sorted_dir_names(&base.join(&stage).join(&slot))? {
                    let dir = base.join(&stage).join(&slot).join(&key);
                    let n = crate::store::sorted_dir_names(&dir)?
                        .iter()
                        .filter(|n| dir.join(n).join(RECORD).is_file())
                        .count();
                    out.push((stage.clone(), slot.clone(), dir, n));
                }
            }
        }
        Ok(out)
    }
}

impl PartArea {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn part_dir(&self, unit: &str) -> PathBuf {
        self.dir.join(dir_name(unit))
    }

    /// The part finished earlier for `unit` with this digest, if any.
    pub fn finished(&self, unit: &str, digest: &str) -> Option<Part> {
        let bytes = std::fs::read(self.part_dir(unit).join(RECORD)).ok()?;
        let part: Part = serde_json::from_slice(&bytes).ok()?;
        (part.unit == unit && part.digest == digest).then_some(part)
    }

    /// Starts computing a part; publish it with [`PartWriter::commit`].
    pub fn begin(&self, unit: &str) -> Result<PartWriter> {
        let tmp = atomic::unique_temp_name(&self.dir, "part");
        fs_err::create_dir(&tmp)?;
        Ok(PartWriter {
            unit: unit.to_string(),
            tmp,
            final_dir: self.part_dir(unit),
            files: FileList::default(),
            committed: false,
        })
    }

    /// Takes the part of `unit` from a previous artifact whose recorded digest equals
    /// `digest`: its files are hard-linked with their recorded hashes.
    pub fn reuse(&self, previous: &Artifact, unit: &str, digest: &str) -> Result<Option<Part>> {
        let Some(entry) = previous.manifest.parts.get(unit) else {
            return Ok(None);
        };
        if entry.digest != digest {
            return Ok(None);
        }
        let w = self.begin(unit)?;
        let prefix = format!("{}/", entry.dir);
        for f in &previous.manifest.files {
            if let Some(rel) = f.path.strip_prefix(&prefix) {
                link_file(&w, &previous.dir.join(&f.path), rel, f)?;
            }
        }
        Ok(Some(w.commit(
            digest,
            entry.deps.clone(),
            entry.summary.clone(),
        )?))
    }
}

/// Writes one part into its area (a private folder until committed).
#[derive(Debug)]
pub struct PartWriter {
    unit: String,
    tmp: PathBuf,
    final_dir: PathBuf,
    files: FileList,
    committed: bool,
}

impl FileRegistry for PartWriter {
    fn root(&self) -> &Path {
        &self.tmp
    }
    fn claim(&self, rel: &str) -> Result<()> {
        self.files.claim(rel)
    }
    fn record(&self, entry: FileEntry) {
        self.files.record(entry)
    }
    fn release(&self, rel: &str) {
        self.files.release(rel)
    }
}

impl PartWriter {
    pub fn unit(&self) -> &str {
        &self.unit
    }

    pub fn dir(&self) -> &Path {
        &self.tmp
    }

    pub fn create(&self, rel: &str) -> Result<FileSink<'_>> {
        FileSink::create(self, rel)
    }

    /// A table file of this part (`<table>.parquet`).
    pub fn table(
        &self,
        table: &str,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<TableWriter<'_>> {
        TableWriter::create(self, &format!("{table}.parquet"), table, schema)
    }

    /// Publishes the part atomically into the area.
    pub fn commit(
        mut self,
        digest: &str,
        deps: BTreeMap<String, String>,
        summary: Value,
    ) -> Result<Part> {
        let part = Part {
            unit: self.unit.clone(),
            digest: digest.to_string(),
            files: self.files.finished()?,
            deps,
            summary,
        };
        let json = serde_json::to_vec_pretty(&part).expect("a part serializes");
        atomic::write_file(&self.tmp.join(RECORD), &json)?;
        atomic::sync_dir(&self.tmp)?;
        if self.final_dir.exists() {
            fs_err::remove_dir_all(&self.final_dir)?;
        }
        fs_err::rename(&self.tmp, &self.final_dir)?;
        atomic::sync_dir(self.final_dir.parent().expect("in an area"))?;
        self.committed = true;
        Ok(part)
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The manifest entry of a part (used by [`crate::ArtifactWriter::add_part`]).
pub fn manifest_entry(part: &Part) -> PartEntry {
    PartEntry {
        digest: part.digest.clone(),
        dir: format!("parts/{}", part.dir_name()),
        deps: part.deps.clone(),
        summary: part.summary.clone(),
    }
}

/// A tracks-changed explanation for `amt status`: units whose digest differs, given the
/// previous artifact and the current digests.
pub fn changed_units<'a>(
    previous: &'a Artifact,
    current: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Vec<&'a str> {
    current
        .into_iter()
        .filter(|(unit, digest)| {
            previous
                .manifest
                .parts
                .get(*unit)
                .is_none_or(|p| p.digest != *digest)
        })
        .map(|(u, _)| u)
        .collect()
}
