//! The store: where artifacts are written, published, found, verified and evicted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde_json::Value;

use crate::manifest::{self, FORMAT};
use crate::{Error, FileEntry, Key, Manifest, Result, atomic, time};

/// Set by tests only: before publishing, the writer creates this file and waits until the
/// test deletes it (at most a minute), so that a test can kill the process at the worst moment.
pub const TEST_PAUSE_ENV: &str = "AMT_TEST_PAUSE_BEFORE_PUBLISH";

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A published artifact: its folder and manifest.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Artifact {
    /// (table, Parquet path) for every table file of the artifact.
    pub fn table_files(&self) -> impl Iterator<Item = (&str, PathBuf)> {
        self.manifest
            .files
            .iter()
            .filter_map(|f| Some((f.table.as_deref()?, self.dir.join(&f.path))))
    }
}

/// An artifact folder whose manifest cannot be read, with the reason.
pub type Unreadable = (PathBuf, Error);

/// A file of an artifact whose bytes no longer match the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub path: PathBuf,
    pub reason: String,
}

impl Store {
    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        for sub in ["artifacts", "refs", "memo", "tmp"] {
            fs_err::create_dir_all(root.join(sub))?;
        }
        Ok(Store {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn memo_dir(&self) -> PathBuf {
        self.root.join("memo")
    }

    fn artifact_dir(&self, stage: &str, dataset: &str, key: &Key) -> PathBuf {
        self.root
            .join("artifacts")
            .join(stage)
            .join(dataset)
            .join(key.as_str())
    }

    fn ref_path(&self, stage: &str, dataset: &str) -> PathBuf {
        self.root
            .join("refs")
            .join(stage)
            .join(format!("{dataset}.json"))
    }

    /// The published artifact with this key, if any.
    pub fn get(&self, stage: &str, dataset: &str, key: &Key) -> Result<Option<Artifact>> {
        let dir = self.artifact_dir(stage, dataset, key);
        let path = dir.join(manifest::FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        let manifest = Manifest::read(&path)?;
        Ok(Some(Artifact { dir, manifest }))
    }

    /// The key the last run published for (stage, dataset).
    pub fn read_ref(&self, stage: &str, dataset: &str) -> Result<Option<Key>> {
        let path = self.ref_path(stage, dataset);
        match fs_err::read(&path) {
            Ok(bytes) => {
                let key: Key = serde_json::from_slice(&bytes).map_err(|e| Error::BadManifest {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn write_ref(&self, stage: &str, dataset: &str, key: &Key) -> Result<()> {
        let json = serde_json::to_vec(key).expect("a key serializes");
        atomic::write_file(&self.ref_path(stage, dataset), &json)
    }

    pub fn remove_ref(&self, stage: &str, dataset: &str) -> Result<()> {
        match fs_err::remove_file(self.ref_path(stage, dataset)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every (stage, dataset, key) ref, sorted.
    pub fn refs(&self) -> Result<Vec<(String, String, Key)>> {
        let mut out = Vec::new();
        for stage in sorted_dir_names(&self.root.join("refs"))? {
            for file in sorted_dir_names(&self.root.join("refs").join(&stage))? {
                if let Some(dataset) = file.strip_suffix(".json")
                    && let Some(key) = self.read_ref(&stage, dataset)?
                {
                    out.push((stage.clone(), dataset.to_string(), key));
                }
            }
        }
        Ok(out)
    }

    /// The artifacts the refs point at (the "current" ones), skipping dangling refs.
    pub fn current(&self) -> Result<Vec<Artifact>> {
        let mut out = Vec::new();
        for (stage, dataset, key) in self.refs()? {
            if let Some(a) = self.get(&stage, &dataset, &key)? {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// Every published artifact, sorted by (stage, dataset, key). Unreadable manifests are
    /// returned as errors in the second list so that `verify` can report them.
    pub fn artifacts(&self) -> Result<(Vec<Artifact>, Vec<Unreadable>)> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        let base = self.root.join("artifacts");
        for stage in sorted_dir_names(&base)? {
            for dataset in sorted_dir_names(&base.join(&stage))? {
                for key in sorted_dir_names(&base.join(&stage).join(&dataset))? {
                    let dir = base.join(&stage).join(&dataset).join(&key);
                    match Manifest::read(&dir.join(manifest::FILE_NAME)) {
                        Ok(manifest) => ok.push(Artifact { dir, manifest }),
                        Err(e) => bad.push((dir, e)),
                    }
                }
            }
        }
        Ok((ok, bad))
    }

    /// Starts writing an artifact in a private temporary folder.
    pub fn begin(&self, stage: &str, dataset: &str, key: &Key) -> Result<ArtifactWriter> {
        let tmp_dir = atomic::unique_temp_name(&self.root.join("tmp"), stage);
        fs_err::create_dir_all(&tmp_dir)?;
        Ok(ArtifactWriter {
            stage: stage.to_string(),
            dataset: dataset.to_string(),
            key: key.clone(),
            final_dir: self.artifact_dir(stage, dataset, key),
            trash_dir: self.root.join("tmp"),
            tmp_dir,
            files: Vec::new(),
            summary: BTreeMap::new(),
            started: Instant::now(),
            committed: false,
        })
    }

    /// Re-hashes every file of an artifact against its manifest.
    pub fn verify(&self, artifact: &Artifact) -> Vec<Corruption> {
        let mut out = Vec::new();
        for f in &artifact.manifest.files {
            let path = artifact.dir.join(&f.path);
            match hash_file(&path) {
                Ok((size, hash)) if size == f.size && hash == f.blake3 => {}
                Ok((size, hash)) => out.push(Corruption {
                    path,
                    reason: format!(
                        "content changed: expected {} bytes with blake3 {}, found {size} bytes with blake3 {hash}",
                        f.size,
                        &f.blake3[..12.min(f.blake3.len())]
                    ),
                }),
                Err(e) => out.push(Corruption {
                    path,
                    reason: e.to_string(),
                }),
            }
        }
        out
    }

    /// Removes an artifact folder: first renamed into `tmp/` (atomic, so nobody sees a half
    /// deleted artifact), then deleted.
    pub fn evict(&self, dir: &Path) -> Result<()> {
        let trash = atomic::unique_temp_name(&self.root.join("tmp"), "evicted");
        fs_err::rename(dir, &trash)?;
        atomic::sync_dir(dir.parent().unwrap_or(&self.root))?;
        fs_err::remove_dir_all(&trash)?;
        Ok(())
    }

    /// Leftovers of writers that died (kill -9, power cut). Only call with the exclusive lock.
    pub fn stale_temp_entries(&self) -> Result<Vec<PathBuf>> {
        Ok(sorted_dir_names(&self.root.join("tmp"))?
            .into_iter()
            .map(|n| self.root.join("tmp").join(n))
            .collect())
    }

    pub fn clean_tmp(&self) -> Result<usize> {
        let entries = self.stale_temp_entries()?;
        for e in &entries {
            if e.is_dir() {
                fs_err::remove_dir_all(e)?;
            } else {
                fs_err::remove_file(e)?;
            }
        }
        Ok(entries.len())
    }
}

/// Writes one artifact. Dropped without `commit`, it deletes its temporary folder.
#[derive(Debug)]
pub struct ArtifactWriter {
    stage: String,
    dataset: String,
    key: Key,
    tmp_dir: PathBuf,
    final_dir: PathBuf,
    trash_dir: PathBuf,
    files: Vec<(String, Option<String>, Option<u64>)>,
    summary: BTreeMap<String, Value>,
    started: Instant,
    committed: bool,
}

impl ArtifactWriter {
    /// The private folder to write into.
    pub fn dir(&self) -> &Path {
        &self.tmp_dir
    }

    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Writes `batches` as the table's Parquet file (zstd) and records it.
    pub fn write_table(&mut self, table: &str, batches: &[RecordBatch]) -> Result<u64> {
        let name = format!("{table}.parquet");
        let path = self.tmp_dir.join(&name);
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => {
                return Err(Error::Internal(format!(
                    "write_table(`{table}`) needs at least one (possibly empty) batch for its schema"
                )));
            }
        };
        let file = fs_err::File::create(&path)?;
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .build();
        let parquet_err = |source| Error::Parquet {
            path: path.clone(),
            source,
        };
        let mut writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(parquet_err)?;
        let mut rows = 0u64;
        for b in batches {
            writer.write(b).map_err(parquet_err)?;
            rows += b.num_rows() as u64;
        }
        let file = writer.into_inner().map_err(parquet_err)?;
        file.sync_all()?;
        self.files.push((name, Some(table.to_string()), Some(rows)));
        Ok(rows)
    }

    /// Records a file the stage wrote itself under `dir()` (relative path).
    pub fn add_file(&mut self, relative: &str) {
        self.files.push((relative.to_string(), None, None));
    }

    /// A fact for the manifest's summary (counts, bytes hashed...).
    pub fn set_summary(&mut self, name: &str, value: Value) {
        self.summary.insert(name.to_string(), value);
    }

    /// Hashes the files, writes the manifest, fsyncs and renames the folder into place.
    /// `force` replaces an artifact already published under the same key.
    pub fn commit(
        mut self,
        stage_version: u32,
        inputs: BTreeMap<String, String>,
        config: Value,
        force: bool,
    ) -> Result<Artifact> {
        let mut files = Vec::with_capacity(self.files.len());
        for (path, table, rows) in &self.files {
            let full = self.tmp_dir.join(path);
            fs_err::File::open(&full)?.sync_all()?;
            let (size, blake3) = hash_file(&full)?;
            files.push(FileEntry {
                path: path.clone(),
                size,
                blake3,
                table: table.clone(),
                rows: *rows,
            });
        }
        let manifest = Manifest {
            format: FORMAT,
            key: self.key.clone(),
            stage: self.stage.clone(),
            stage_version,
            dataset: self.dataset.clone(),
            inputs,
            config,
            files,
            wall_time_s: self.started.elapsed().as_secs_f64(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: time::now_rfc3339(),
            summary: std::mem::take(&mut self.summary),
        };
        atomic::write_file(
            &self.tmp_dir.join(manifest::FILE_NAME),
            manifest.to_json().as_bytes(),
        )?;
        atomic::sync_dir(&self.tmp_dir)?;
        test_pause_point(&self.tmp_dir);

        let parent = self
            .final_dir
            .parent()
            .expect("artifact dirs have parents")
            .to_owned();
        fs_err::create_dir_all(&parent)?;
        if self.final_dir.exists() {
            if !force {
                // Another writer published the same key meanwhile: same inputs, same content.
                self.committed = false;
                let dir = self.final_dir.clone();
                return Ok(Artifact {
                    manifest: Manifest::read(&dir.join(manifest::FILE_NAME))?,
                    dir,
                });
            }
            let old = atomic::unique_temp_name(&self.trash_dir, "replaced");
            fs_err::rename(&self.final_dir, &old)?;
            let _ = fs_err::remove_dir_all(&old);
        }
        fs_err::rename(&self.tmp_dir, &self.final_dir)?;
        atomic::sync_dir(&parent)?;
        self.committed = true;
        Ok(Artifact {
            dir: self.final_dir.clone(),
            manifest,
        })
    }
}

impl Drop for ArtifactWriter {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp_dir);
        }
    }
}

fn test_pause_point(tmp_dir: &Path) {
    let Some(marker) = std::env::var_os(TEST_PAUSE_ENV) else {
        return;
    };
    let marker = PathBuf::from(marker);
    if std::fs::write(&marker, tmp_dir.display().to_string()).is_err() {
        return;
    }
    // Bounded: a forgotten variable never hangs a run for more than a minute.
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while marker.exists() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// (size, blake3 hex) of a file.
pub fn hash_file(path: &Path) -> Result<(u64, String)> {
    let mut hasher = blake3::Hasher::new();
    let size = fs_err::metadata(path)?.len();
    if size >= 1 << 20 {
        hasher.update_mmap_rayon(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("{e} (hashing `{}`)", path.display()))
        })?;
    } else {
        hasher.update(&fs_err::read(path)?);
    }
    Ok((size, hasher.finalize().to_hex().to_string()))
}

fn sorted_dir_names(dir: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match fs_err::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                let e = e?;
                if let Some(name) = e.file_name().to_str() {
                    out.push(name.to_string());
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeySpec;
    use amt_schemas::files::{FileRow, FilesBuilder};
    use serde_json::json;

    fn key(n: u32) -> Key {
        KeySpec {
            stage: "s".into(),
            version: n,
            config: json!({}),
            inputs: BTreeMap::new(),
        }
        .key()
    }

    fn batch() -> RecordBatch {
        let mut b = FilesBuilder::new();
        b.push(&FileRow {
            dataset: "d",
            path: "x",
            size: 1,
            blake3: "00",
            mtime: 0,
        });
        b.finish()
    }

    #[test]
    fn publish_then_find_then_verify() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let k = key(1);
        assert!(store.get("s", "d", &k).unwrap().is_none());
        let mut w = store.begin("s", "d", &k).unwrap();
        assert_eq!(w.write_table("files", &[batch()]).unwrap(), 1);
        let a = w
            .commit(1, BTreeMap::new(), json!({"x": 1}), false)
            .unwrap();
        assert_eq!(a.manifest.table_rows()["files"], 1);
        let again = store.get("s", "d", &k).unwrap().unwrap();
        assert_eq!(again.manifest, a.manifest);
        assert!(store.verify(&again).is_empty());
        assert!(store.stale_temp_entries().unwrap().is_empty());

        // Flip one byte: verify names the file.
        let f = a.dir.join("files.parquet");
        let mut bytes = std::fs::read(&f).unwrap();
        bytes[10] ^= 0xff;
        std::fs::write(&f, bytes).unwrap();
        let bad = store.verify(&again);
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].path, f);
        store.evict(&a.dir).unwrap();
        assert!(store.get("s", "d", &k).unwrap().is_none());
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut w = store.begin("s", "d", &key(2)).unwrap();
        w.write_table("files", &[batch()]).unwrap();
        drop(w);
        assert!(store.stale_temp_entries().unwrap().is_empty());
        assert!(store.artifacts().unwrap().0.is_empty());
    }

    #[test]
    fn refs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read_ref("s", "d").unwrap(), None);
        store.write_ref("s", "d", &key(3)).unwrap();
        assert_eq!(store.read_ref("s", "d").unwrap(), Some(key(3)));
        assert_eq!(
            store.refs().unwrap(),
            vec![("s".to_string(), "d".to_string(), key(3))]
        );
    }
}
