//! The store: where artifacts are written, published, found, verified and evicted.
//!
//! Safety rules, because a store may sit next to a user's own files:
//! - a folder is a store only when amt created it: it holds the [`MARKER`] file. A non-empty
//!   folder without it is refused ([`Error::NotAStore`]);
//! - amt deletes only inside its own store, only what it owns: temporary folders whose owner
//!   lock is free (their writer is gone), artifacts no ref, pin or run names (`gc`), corrupt
//!   artifacts (`verify`), unfinished parts (`gc`);
//! - it never follows a symbolic link when deleting: a link where a store folder should be is
//!   an error ([`Error::SymlinkInStore`]), a link inside `tmp/` is removed as a link.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::lock::FileLock;
use crate::manifest::{self, FORMAT, PartEntry};
use crate::writer::{FileList, FileRegistry, FileSink, TableWriter};
use crate::{Error, FileEntry, Key, Manifest, Result, Slot, atomic, time};

/// Set by tests only: before publishing, the writer creates this file and waits until the
/// test deletes it (at most a minute), so that a test can kill the process at the worst moment.
pub const TEST_PAUSE_ENV: &str = "AMT_TEST_PAUSE_BEFORE_PUBLISH";

/// The file that makes a folder an amt store.
pub const MARKER: &str = "AMT_STORE";
/// Layout version written into the marker.
pub const LAYOUT: u32 = 2;

/// The folders of a store.
const FOLDERS: &[&str] = &[
    "artifacts",
    "refs",
    "locks",
    "pins",
    "partial",
    "runs",
    "memo",
    "datasets",
    "tmp",
];

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

    /// The path of the table file of `table` (the first, for tables in several files).
    pub fn table_file(&self, table: &str) -> Option<PathBuf> {
        self.table_files()
            .find(|(t, _)| *t == table)
            .map(|(_, p)| p)
    }
}

/// An artifact folder whose manifest cannot be read, with the reason.
pub type Unreadable = (PathBuf, Error);

/// A ref or manifest that cannot be read: it affects only its own stage and slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub stage: String,
    pub slot: String,
    pub path: PathBuf,
    pub reason: String,
}

/// One ref: a (stage, slot) and the key it names, or why it cannot be read.
#[derive(Debug, Clone)]
pub struct RefEntry {
    pub stage: String,
    pub slot: Slot,
    pub key: std::result::Result<Key, Damage>,
}

/// A file of an artifact whose bytes no longer match the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    pub path: PathBuf,
    pub reason: String,
}

/// What [`Store::clean_tmp`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// Leftovers of writers that died, removed.
    pub removed: usize,
    /// Temporary folders of live writers, kept.
    pub in_use: usize,
    /// Entries amt did not create (no owner lock), left alone.
    pub foreign: Vec<PathBuf>,
}

impl Store {
    /// Opens the store at `root`, creating it when the folder is missing or empty. A
    /// non-empty folder without the marker is refused; a store of the first layout (amt
    /// 0.1, with `lock`, `artifacts/` and `refs/`) is adopted.
    pub fn open(root: &Path) -> Result<Store> {
        let marker = root.join(MARKER);
        if !marker.is_file() {
            // Empty, or holding only the marker's temporary file of another process creating
            // this store at the same moment (it writes the marker before any folder).
            let temp_prefix = format!(".{MARKER}.");
            let empty = match fs_err::read_dir(root) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .all(|e| e.file_name().to_string_lossy().starts_with(&temp_prefix)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(e.into()),
            };
            let legacy = root.join("lock").is_file()
                && root.join("artifacts").is_dir()
                && root.join("refs").is_dir();
            // (The other process may have published the marker since we looked.)
            if !empty && !legacy && !marker.is_file() {
                return Err(Error::NotAStore {
                    path: root.to_owned(),
                    marker: MARKER,
                });
            }
            fs_err::create_dir_all(root)?;
            let text =
                serde_json::json!({"amt_store": LAYOUT, "created_by": env!("CARGO_PKG_VERSION")});
            atomic::write_file(&marker, format!("{text}\n").as_bytes())?;
        }
        for sub in FOLDERS {
            let p = root.join(sub);
            match fs_err::symlink_metadata(&p) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::SymlinkInStore { path: p });
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs_err::create_dir_all(&p)?,
                Err(e) => return Err(e.into()),
            }
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

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn artifact_dir(&self, stage: &str, slot: &Slot, key: &Key) -> PathBuf {
        self.root
            .join("artifacts")
            .join(stage)
            .join(slot.to_string())
            .join(key.as_str())
    }

    /// The manifest of the artifact `key` of (stage, slot) (it may not exist).
    pub fn manifest_path(&self, stage: &str, slot: &Slot, key: &Key) -> PathBuf {
        self.artifact_dir(stage, slot, key)
            .join(crate::manifest::FILE_NAME)
    }

    /// The ref file of (stage, slot) (it may not exist).
    pub fn ref_path(&self, stage: &str, slot: &Slot) -> PathBuf {
        self.root
            .join("refs")
            .join(stage)
            .join(format!("{slot}.json"))
    }

    /// The writer lock file of (stage, slot).
    pub fn lock_path(&self, stage: &str, slot: &Slot) -> PathBuf {
        self.root
            .join("locks")
            .join(stage)
            .join(format!("{slot}.lock"))
    }

    /// Every writer lock file: (stage, slot, path). Held ones belong to live writers.
    pub fn slot_locks(&self) -> Result<Vec<(String, String, PathBuf)>> {
        let base = self.root.join("locks");
        let mut out = Vec::new();
        for stage in sorted_dir_names(&base)? {
            for file in sorted_dir_names(&base.join(&stage))? {
                if let Some(slot) = file.strip_suffix(".lock") {
                    out.push((
                        stage.clone(),
                        slot.to_string(),
                        base.join(&stage).join(&file),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Locks (stage, slot) for writing: its artifact, ref and unfinished parts.
    pub fn lock_slot(&self, stage: &str, slot: &Slot, wait: bool) -> Result<FileLock> {
        FileLock::exclusive(
            &self.lock_path(stage, slot),
            &format!("`{stage}` of `{slot}`"),
            wait,
        )
    }

    /// The published artifact with this key, if any.
    pub fn get(&self, stage: &str, slot: &Slot, key: &Key) -> Result<Option<Artifact>> {
        let dir = self.artifact_dir(stage, slot, key);
        let path = dir.join(manifest::FILE_NAME);
        if !path.exists() {
            return Ok(None);
        }
        let manifest = Manifest::read(&path)?;
        Ok(Some(Artifact { dir, manifest }))
    }

    /// The key the last run published for (stage, slot). A damaged ref is an
    /// [`Error::BadRef`] naming the file.
    pub fn read_ref(&self, stage: &str, slot: &Slot) -> Result<Option<Key>> {
        let path = self.ref_path(stage, slot);
        match fs_err::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Key>(&bytes)
                .map(Some)
                .map_err(|e| Error::BadRef {
                    reason: if bytes.is_empty() {
                        "the file is empty".into()
                    } else {
                        e.to_string()
                    },
                    path,
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The current artifact of (stage, slot): `Ok(None)` when never built.
    pub fn current_of(&self, stage: &str, slot: &Slot) -> Result<Option<Artifact>> {
        match self.read_ref(stage, slot)? {
            Some(k) => self.get(stage, slot, &k),
            None => Ok(None),
        }
    }

    pub fn write_ref(&self, stage: &str, slot: &Slot, key: &Key) -> Result<()> {
        let json = serde_json::to_vec(key).expect("a key serializes");
        atomic::write_file(&self.ref_path(stage, slot), &json)
    }

    pub fn remove_ref(&self, stage: &str, slot: &Slot) -> Result<()> {
        match fs_err::remove_file(self.ref_path(stage, slot)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Every ref, sorted by (stage, slot); a damaged ref is listed with its damage.
    pub fn refs(&self) -> Result<Vec<RefEntry>> {
        let mut out = Vec::new();
        let base = self.root.join("refs");
        for stage in sorted_dir_names(&base)? {
            for file in sorted_dir_names(&base.join(&stage))? {
                let Some(name) = file.strip_suffix(".json") else {
                    continue;
                };
                let Ok(slot) = Slot::parse(name) else {
                    continue;
                };
                let key = self.read_ref(&stage, &slot).map_err(|e| Damage {
                    stage: stage.clone(),
                    slot: slot.to_string(),
                    path: self.ref_path(&stage, &slot),
                    reason: e.to_string(),
                });
                if let Ok(None) = key {
                    continue;
                }
                out.push(RefEntry {
                    stage: stage.clone(),
                    slot,
                    key: key.map(|k| k.expect("checked above")),
                });
            }
        }
        Ok(out)
    }

    /// The artifacts the refs point at (the "current" ones). Damaged refs and manifests, and
    /// refs whose artifact is gone, are returned apart: each affects only its own stage and
    /// slot.
    pub fn current(&self) -> Result<(Vec<Artifact>, Vec<Damage>)> {
        let mut ok = Vec::new();
        let mut damaged = Vec::new();
        for r in self.refs()? {
            let key = match r.key {
                Ok(k) => k,
                Err(d) => {
                    damaged.push(d);
                    continue;
                }
            };
            let damage = |reason: String, path: PathBuf| Damage {
                stage: r.stage.clone(),
                slot: r.slot.to_string(),
                path,
                reason,
            };
            match self.get(&r.stage, &r.slot, &key) {
                Ok(Some(a)) => ok.push(a),
                Ok(None) => damaged.push(damage(
                    format!("its artifact `{}` is gone from the store", key.short()),
                    self.ref_path(&r.stage, &r.slot),
                )),
                Err(e) => damaged.push(damage(
                    e.to_string(),
                    self.artifact_dir(&r.stage, &r.slot, &key)
                        .join(manifest::FILE_NAME),
                )),
            }
        }
        Ok((ok, damaged))
    }

    /// Every published artifact, sorted by (stage, slot, key). Unreadable manifests are
    /// returned in the second list so that `verify` can report them.
    pub fn artifacts(&self) -> Result<(Vec<Artifact>, Vec<Unreadable>)> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        let base = self.root.join("artifacts");
        for stage in sorted_dir_names(&base)? {
            for slot in sorted_dir_names(&base.join(&stage))? {
                for key in sorted_dir_names(&base.join(&stage).join(&slot))? {
                    let dir = base.join(&stage).join(&slot).join(&key);
                    match Manifest::read(&dir.join(manifest::FILE_NAME)) {
                        Ok(manifest) => ok.push(Artifact { dir, manifest }),
                        Err(e) => bad.push((dir, e)),
                    }
                }
            }
        }
        Ok((ok, bad))
    }

    /// Starts writing an artifact in a private temporary folder. The caller holds the slot's
    /// lock ([`Store::lock_slot`]).
    pub fn begin(&self, stage: &str, slot: &Slot, key: &Key) -> Result<ArtifactWriter> {
        slot.check()?;
        let tmp = TempDir::create(&self.tmp_dir(), stage)?;
        Ok(ArtifactWriter {
            stage: stage.to_string(),
            slot: slot.clone(),
            key: key.clone(),
            final_dir: self.artifact_dir(stage, slot, key),
            trash: self.tmp_dir(),
            tmp,
            files: FileList::default(),
            tables: Mutex::new(Vec::new()),
            parts: Mutex::new(BTreeMap::new()),
            summary: Mutex::new(BTreeMap::new()),
            started: Instant::now(),
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
                        "content changed: expected {} bytes with blake3 {}, found {size} bytes with blake3 {}",
                        f.size,
                        &f.blake3[..12.min(f.blake3.len())],
                        &hash[..12]
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
    /// deleted artifact), then deleted. The caller holds the slot's lock.
    pub fn evict(&self, dir: &Path) -> Result<()> {
        self.remove_under(dir, "evicted")
    }

    /// Evicts the artifact of (stage, slot, key), if its folder exists (readable or not).
    pub fn evict_artifact(&self, stage: &str, slot: &Slot, key: &Key) -> Result<()> {
        let dir = self.artifact_dir(stage, slot, key);
        if fs_err::symlink_metadata(&dir).is_ok() {
            self.evict(&dir)?;
        }
        Ok(())
    }

    /// Renames `dir` (inside this store) into `tmp/` under an owner lock and deletes it.
    pub(crate) fn remove_under(&self, dir: &Path, stem: &str) -> Result<()> {
        if !dir.starts_with(&self.root) {
            return Err(Error::Internal(format!(
                "refusing to delete `{}` outside the store",
                dir.display()
            )));
        }
        let trash = TempDir::reserve(&self.tmp_dir(), stem)?;
        fs_err::rename(dir, trash.path())?;
        atomic::sync_dir(dir.parent().unwrap_or(&self.root))?;
        drop(trash);
        Ok(())
    }

    /// Removes the leftovers of writers that died (kill -9, power cut): temporary entries
    /// whose owner lock is free. Entries of live writers are kept; entries amt did not create
    /// (no owner lock file) are left alone and listed. Safe while other processes write.
    pub fn clean_tmp(&self) -> Result<Cleaned> {
        let tmp = self.tmp_dir();
        match fs_err::symlink_metadata(&tmp) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::SymlinkInStore { path: tmp });
            }
            _ => {}
        }
        let mut out = Cleaned::default();
        let names = sorted_dir_names(&tmp)?;
        for name in &names {
            if name.ends_with(LOCK_SUFFIX) {
                continue;
            }
            let entry = tmp.join(name);
            let lock_path = tmp.join(format!("{name}{LOCK_SUFFIX}"));
            if !lock_path.is_file() {
                out.foreign.push(entry);
                continue;
            }
            match FileLock::try_exclusive(&lock_path)? {
                Some(_lock) => {
                    remove_entry(&entry)?;
                    fs_err::remove_file(&lock_path)?;
                    out.removed += 1;
                }
                None => out.in_use += 1,
            }
        }
        // Owner locks whose entry is gone (a writer killed between the two removals).
        for name in names.iter().filter(|n| n.ends_with(LOCK_SUFFIX)) {
            let entry = tmp.join(name.trim_end_matches(LOCK_SUFFIX));
            if !entry.exists()
                && fs_err::symlink_metadata(&entry).is_err()
                && let Some(_lock) = FileLock::try_exclusive(&tmp.join(name))?
            {
                let _ = fs_err::remove_file(tmp.join(name));
            }
        }
        Ok(out)
    }

    /// Temporary entries of writers that died (what [`Store::clean_tmp`] would remove).
    pub fn stale_temp_entries(&self) -> Result<Vec<PathBuf>> {
        let tmp = self.tmp_dir();
        let mut out = Vec::new();
        for name in sorted_dir_names(&tmp)? {
            if name.ends_with(LOCK_SUFFIX) {
                continue;
            }
            let lock_path = tmp.join(format!("{name}{LOCK_SUFFIX}"));
            if lock_path.is_file() && !crate::lock::is_held(&lock_path) {
                out.push(tmp.join(name));
            }
        }
        Ok(out)
    }
}

const LOCK_SUFFIX: &str = ".owner";

/// Deletes a file, a link (never what it points to) or a folder tree (links inside it are
/// removed as links: `remove_dir_all` does not follow them).
fn remove_entry(path: &Path) -> Result<()> {
    let meta = fs_err::symlink_metadata(path)?;
    if meta.is_dir() {
        fs_err::remove_dir_all(path)?;
    } else {
        fs_err::remove_file(path)?;
    }
    Ok(())
}

/// A folder in `tmp/` owned by this process: its owner lock (`<name>.owner`) is held for as
/// long as it lives, so that cleaners tell leftovers of dead writers from live work. Dropped,
/// it deletes the folder unless kept.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
    lock_path: PathBuf,
    lock: Option<FileLock>,
    keep: bool,
}

impl TempDir {
    /// A name in `tmp/` with its owner lock held; nothing is created at the name itself.
    pub(crate) fn reserve(tmp: &Path, stem: &str) -> Result<TempDir> {
        let path = atomic::unique_temp_name(tmp, stem);
        let name = path.file_name().expect("a name").to_string_lossy();
        let lock_path = tmp.join(format!("{name}{LOCK_SUFFIX}"));
        let lock = FileLock::exclusive(&lock_path, "a temporary folder", false)?;
        Ok(TempDir {
            path,
            lock_path,
            lock: Some(lock),
            keep: false,
        })
    }

    pub(crate) fn create(tmp: &Path, stem: &str) -> Result<TempDir> {
        let t = TempDir::reserve(tmp, stem)?;
        fs_err::create_dir(&t.path)?;
        Ok(t)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The folder was renamed away: release the lock and remove the lock file only.
    pub(crate) fn keep(mut self) {
        self.keep = true;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep && fs_err::symlink_metadata(&self.path).is_ok() {
            let _ = remove_entry(&self.path);
        }
        let _ = std::fs::remove_file(&self.lock_path);
        self.lock.take();
    }
}

/// Writes one artifact. Dropped without `commit`, it deletes its temporary folder. Shared by
/// reference between threads: a track-parallel stage writes many files at once.
#[derive(Debug)]
pub struct ArtifactWriter {
    stage: String,
    slot: Slot,
    key: Key,
    tmp: TempDir,
    final_dir: PathBuf,
    trash: PathBuf,
    files: FileList,
    tables: Mutex<Vec<String>>,
    parts: Mutex<BTreeMap<String, PartEntry>>,
    summary: Mutex<BTreeMap<String, Value>>,
    started: Instant,
}

impl FileRegistry for ArtifactWriter {
    fn root(&self) -> &Path {
        self.tmp.path()
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

impl ArtifactWriter {
    /// The private folder being written.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    pub fn slot(&self) -> &Slot {
        &self.slot
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Creates a file (relative path), hashed while written; finish it with
    /// [`FileSink::finish`].
    pub fn create(&self, rel: &str) -> Result<FileSink<'_>> {
        FileSink::create(self, rel)
    }

    /// Opens table `table` (file `<table>.parquet`) for writing batch by batch. A table is
    /// written once per artifact.
    pub fn table(&self, table: &str, schema: SchemaRef) -> Result<TableWriter<'_>> {
        {
            let mut t = self.tables.lock().expect("not poisoned");
            if t.iter().any(|n| n == table) {
                return Err(Error::Duplicate {
                    path: format!("{table}.parquet"),
                });
            }
            t.push(table.to_string());
        }
        TableWriter::create(self, &format!("{table}.parquet"), table, schema)
    }

    /// Writes a whole table from batches (all of the same schema); returns its rows.
    pub fn write_table(&self, table: &str, batches: &[RecordBatch]) -> Result<u64> {
        let schema = batches.first().map(|b| b.schema()).ok_or_else(|| {
            Error::Internal(format!(
                "write_table(`{table}`) needs at least one (possibly empty) batch for its schema"
            ))
        })?;
        let mut w = self.table(table, schema)?;
        for b in batches {
            w.write(b)?;
        }
        Ok(w.finish()?.rows.unwrap_or(0))
    }

    /// Adds a finished part (its files hard-linked, hashes kept) under `parts/<dir>/`; its
    /// files belong to no table.
    pub fn add_part(&self, area: &crate::parts::PartArea, part: &crate::parts::Part) -> Result<()> {
        let entry = crate::parts::manifest_entry(part);
        for f in &part.files {
            let from = area.part_dir(&part.unit).join(&f.path);
            // A part's own table files are its internals: the stage consolidates them into
            // the artifact's tables, which are what SQL reads.
            let internal = FileEntry {
                table: None,
                ..f.clone()
            };
            crate::writer::link_file(self, &from, &format!("{}/{}", entry.dir, f.path), &internal)?;
        }
        self.parts
            .lock()
            .expect("not poisoned")
            .insert(part.unit.clone(), entry);
        Ok(())
    }

    /// A fact for the manifest's summary (counts, bytes hashed...).
    pub fn set_summary(&self, name: &str, value: Value) {
        self.summary
            .lock()
            .expect("not poisoned")
            .insert(name.to_string(), value);
    }

    /// Writes the manifest from the hashes recorded while the files were written (nothing is
    /// read back), fsyncs and renames the folder into place. `force` replaces an artifact
    /// already published under the same key.
    pub fn commit(
        self,
        stage_version: u32,
        inputs: BTreeMap<String, String>,
        config: Value,
        force: bool,
    ) -> Result<Artifact> {
        let files = self.files.finished()?;
        let manifest = Manifest {
            format: FORMAT,
            key: self.key.clone(),
            stage: self.stage.clone(),
            stage_version,
            slot: self.slot.clone(),
            inputs,
            config,
            files,
            parts: std::mem::take(&mut *self.parts.lock().expect("not poisoned")),
            wall_time_s: self.started.elapsed().as_secs_f64(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: time::now_rfc3339(),
            summary: std::mem::take(&mut *self.summary.lock().expect("not poisoned")),
        };
        let dir = self.tmp.path().to_owned();
        atomic::write_file(
            &dir.join(manifest::FILE_NAME),
            manifest.to_json().as_bytes(),
        )?;
        atomic::sync_dir(&dir)?;
        test_pause_point(&dir);

        let parent = self
            .final_dir
            .parent()
            .expect("artifact dirs have parents")
            .to_owned();
        fs_err::create_dir_all(&parent)?;
        if self.final_dir.exists() {
            if !force {
                // Published meanwhile under the same key: same inputs, same content. Ours is
                // dropped with the writer.
                let existing = self.final_dir.clone();
                return Ok(Artifact {
                    manifest: Manifest::read(&existing.join(manifest::FILE_NAME))?,
                    dir: existing,
                });
            }
            let old = TempDir::reserve(&self.trash, "replaced")?;
            fs_err::rename(&self.final_dir, old.path())?;
        }
        fs_err::rename(&dir, &self.final_dir)?;
        atomic::sync_dir(&parent)?;
        let final_dir = self.final_dir.clone();
        let ArtifactWriter { tmp, .. } = self;
        tmp.keep();
        Ok(Artifact {
            dir: final_dir,
            manifest,
        })
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

pub(crate) fn sorted_dir_names(dir: &Path) -> Result<Vec<String>> {
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

    fn d() -> Slot {
        Slot::dataset("d")
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
        assert!(store.get("s", &d(), &k).unwrap().is_none());
        let w = store.begin("s", &d(), &k).unwrap();
        assert_eq!(w.write_table("files", &[batch()]).unwrap(), 1);
        // A table is written once: a second time is an error, not an overwrite.
        let err = w.write_table("files", &[batch()]).unwrap_err();
        assert!(matches!(err, Error::Duplicate { .. }), "{err}");
        let a = w
            .commit(1, BTreeMap::new(), json!({"x": 1}), false)
            .unwrap();
        assert_eq!(a.manifest.table_rows()["files"], 1);
        let again = store.get("s", &d(), &k).unwrap().unwrap();
        assert_eq!(again.manifest, a.manifest);
        // The hash recorded while writing is the file's hash.
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
        assert!(store.get("s", &d(), &k).unwrap().is_none());
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.begin("s", &d(), &key(2)).unwrap();
        w.write_table("files", &[batch()]).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        assert!(store.artifacts().unwrap().0.is_empty());
    }

    #[test]
    fn refs_round_trip_and_a_damaged_ref_is_isolated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read_ref("s", &d()).unwrap(), None);
        store.write_ref("s", &d(), &key(3)).unwrap();
        assert_eq!(store.read_ref("s", &d()).unwrap(), Some(key(3)));
        store.write_ref("s", &Slot::dataset("e"), &key(4)).unwrap();
        std::fs::write(store.ref_path("s", &Slot::dataset("e")), b"").unwrap();
        let refs = store.refs().unwrap();
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].key.as_ref().unwrap(), &key(3));
        let damage = refs[1].key.as_ref().unwrap_err();
        assert!(
            damage.reason.contains("ref") && damage.reason.contains("empty"),
            "{damage:?}"
        );
    }

    #[test]
    fn a_foreign_folder_is_refused_and_links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        // Stores created by several processes at once all open (none sees another's
        // half-made store as a foreign folder).
        for round in 0..20 {
            let root = dir.path().join(format!("race{round}"));
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let root = root.clone();
                    std::thread::spawn(move || Store::open(&root).map(|_| ()))
                })
                .collect();
            for h in handles {
                h.join().unwrap().unwrap();
            }
        }
        // A user's folder with a `tmp/` of their own: not a store, refused, nothing deleted.
        let v = dir.path().join("v");
        std::fs::create_dir_all(v.join("tmp/project")).unwrap();
        std::fs::write(v.join("tmp/project/f"), b"x").unwrap();
        let err = Store::open(&v).unwrap_err();
        assert!(matches!(err, Error::NotAStore { .. }), "{err}");
        assert!(v.join("tmp/project/f").exists());

        // A store whose `tmp` became a link to a user's folder: refused, the folder kept.
        let s = dir.path().join("s");
        Store::open(&s).unwrap();
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep"), b"x").unwrap();
        std::fs::remove_dir(s.join("tmp")).unwrap();
        std::os::unix::fs::symlink(&outside, s.join("tmp")).unwrap();
        let err = Store::open(&s).unwrap_err();
        assert!(matches!(err, Error::SymlinkInStore { .. }), "{err}");
        assert!(outside.join("keep").exists());

        // A link inside tmp/ (with an owner lock that nobody holds) is removed as a link.
        std::fs::remove_file(s.join("tmp")).unwrap();
        let store = Store::open(&s).unwrap();
        std::os::unix::fs::symlink(&outside, s.join("tmp/dead")).unwrap();
        std::fs::write(s.join("tmp/dead.owner"), b"1").unwrap();
        std::fs::write(s.join("tmp/mine"), b"not amt's").unwrap();
        let cleaned = store.clean_tmp().unwrap();
        assert_eq!(cleaned.removed, 1);
        assert_eq!(cleaned.foreign, vec![s.join("tmp/mine")]);
        assert!(outside.join("keep").exists());
        assert!(s.join("tmp/mine").exists());
    }

    #[test]
    fn a_live_writers_temp_folder_survives_cleaning() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let w = store.begin("s", &d(), &key(5)).unwrap();
        let cleaned = store.clean_tmp().unwrap();
        assert_eq!((cleaned.removed, cleaned.in_use), (0, 1));
        assert!(w.dir().exists());
    }
}
