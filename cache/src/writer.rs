//! Streaming writers: files are hashed while they are written, so publishing never reads a
//! file back; tables are written batch by batch in bounded row groups, so memory stays bounded
//! whatever the row count.
//!
//! A [`FileSink`] belongs to a [`FileRegistry`] (an artifact being written, or one part of a
//! track-grained artifact): when it finishes, it fsyncs and records `(path, size, blake3)` in
//! the registry. A path (and so a table) can be written only once per registry.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::{Error, FileEntry, Result};

/// Rows per Parquet row group: the writer buffers one row group, so this bounds its memory.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Where finished files are recorded.
pub trait FileRegistry: Sync {
    /// The folder relative paths are resolved against.
    fn root(&self) -> &Path;
    /// Claims a path before it is written; a second claim of the same path is an error.
    fn claim(&self, rel: &str) -> Result<()>;
    /// Records a finished file.
    fn record(&self, entry: FileEntry);
    /// Forgets a claimed path whose file was discarded.
    fn release(&self, rel: &str);
}

/// The files of one registry, by relative path: claimed, then finished.
#[derive(Debug, Default)]
pub(crate) struct FileList {
    entries: Mutex<BTreeMap<String, Option<FileEntry>>>,
}

impl FileList {
    pub(crate) fn claim(&self, rel: &str) -> Result<()> {
        let mut e = self.entries.lock().expect("not poisoned");
        if e.contains_key(rel) {
            return Err(Error::Duplicate {
                path: rel.to_string(),
            });
        }
        e.insert(rel.to_string(), None);
        Ok(())
    }

    pub(crate) fn release(&self, rel: &str) {
        self.entries.lock().expect("not poisoned").remove(rel);
    }

    pub(crate) fn record(&self, entry: FileEntry) {
        let mut e = self.entries.lock().expect("not poisoned");
        e.insert(entry.path.clone(), Some(entry));
    }

    /// Finished files, by path; files claimed but never finished are an internal error.
    pub(crate) fn finished(&self) -> Result<Vec<FileEntry>> {
        let e = self.entries.lock().expect("not poisoned");
        let mut out = Vec::with_capacity(e.len());
        for (path, entry) in e.iter() {
            match entry {
                Some(f) => out.push(f.clone()),
                None => {
                    return Err(Error::Internal(format!(
                        "`{path}` was opened but never finished"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// A file being written: hashes and counts what passes through it.
pub struct FileSink<'a> {
    registry: &'a dyn FileRegistry,
    rel: String,
    path: PathBuf,
    out: BufWriter<std::fs::File>,
    hasher: blake3::Hasher,
    size: u64,
    table: Option<String>,
    rows: Option<u64>,
}

impl<'a> FileSink<'a> {
    /// Creates `rel` (a `/`-separated path under the registry's root).
    pub fn create(registry: &'a dyn FileRegistry, rel: &str) -> Result<FileSink<'a>> {
        if rel.is_empty()
            || rel.starts_with('/')
            || rel.split('/').any(|c| c == ".." || c.is_empty())
        {
            return Err(Error::Internal(format!(
                "`{rel}` is not a relative file path"
            )));
        }
        registry.claim(rel)?;
        let path = registry.root().join(rel);
        if let Some(dir) = path.parent() {
            fs_err::create_dir_all(dir)?;
        }
        let file = fs_err::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?
            .into_parts()
            .0;
        Ok(FileSink {
            registry,
            rel: rel.to_string(),
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: blake3::Hasher::new(),
            size: 0,
            table: None,
            rows: None,
        })
    }

    /// The file's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the file instead of finishing it (the work it held was abandoned).
    pub fn discard(self) -> Result<()> {
        let FileSink {
            registry,
            rel,
            path,
            out,
            ..
        } = self;
        drop(out);
        fs_err::remove_file(&path)?;
        registry.release(&rel);
        Ok(())
    }

    /// Flushes, fsyncs and records the file with its size and hash (never read back).
    pub fn finish(mut self) -> Result<FileEntry> {
        let io = |e: std::io::Error, path: &Path| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("{e} (writing `{}`)", path.display()),
            ))
        };
        self.out.flush().map_err(|e| io(e, &self.path))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| io(e, &self.path))?;
        let entry = FileEntry {
            path: self.rel.clone(),
            size: self.size,
            blake3: self.hasher.finalize().to_hex().to_string(),
            table: self.table.take(),
            rows: self.rows,
        };
        self.registry.record(entry.clone());
        Ok(entry)
    }
}

/// Writes of at least this size hash on another thread while the bytes are written.
const PARALLEL_HASH_BYTES: usize = 1 << 20;

impl Write for FileSink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (out, hasher) = (&mut self.out, &mut self.hasher);
        let written = if buf.len() >= PARALLEL_HASH_BYTES {
            // Large writes (audio, shards): hashing overlaps the copy into the page cache, so
            // publishing costs about the write alone.
            rayon::join(|| out.write_all(buf), || hasher.update_rayon(buf)).0
        } else {
            hasher.update(buf);
            out.write_all(buf)
        };
        written.map_err(|e| {
            std::io::Error::new(e.kind(), format!("{e} (writing `{}`)", self.path.display()))
        })?;
        self.size += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A Parquet table file written batch by batch (zstd, bounded row groups).
pub struct TableWriter<'a> {
    table: String,
    writer: ArrowWriter<FileSink<'a>>,
    rows: u64,
}

impl<'a> TableWriter<'a> {
    /// Creates `<rel>` as table `table` with `schema`.
    pub fn create(
        registry: &'a dyn FileRegistry,
        rel: &str,
        table: &str,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<TableWriter<'a>> {
        let sink = FileSink::create(registry, rel)?;
        let path = sink.path().to_owned();
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(3).expect("valid level"),
            ))
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(sink, schema, Some(props))
            .map_err(|source| Error::Parquet { path, source })?;
        Ok(TableWriter {
            table: table.to_string(),
            writer,
            rows: 0,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let path = self.writer.inner().path().to_owned();
        self.writer
            .write(batch)
            .map_err(|source| Error::Parquet { path, source })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer, then finishes the file (see [`FileSink::finish`]).
    pub fn finish(self) -> Result<FileEntry> {
        let path = self.writer.inner().path().to_owned();
        let mut sink = self
            .writer
            .into_inner()
            .map_err(|source| Error::Parquet { path, source })?;
        sink.table = Some(self.table);
        sink.rows = Some(self.rows);
        sink.finish()
    }
}

/// Links (or, across file systems, copies) a finished file into a registry under `rel`,
/// keeping the size and hash recorded for it: the bytes are not read to hash them again.
pub fn link_file(
    registry: &dyn FileRegistry,
    from: &Path,
    rel: &str,
    known: &FileEntry,
) -> Result<FileEntry> {
    registry.claim(rel)?;
    let to = registry.root().join(rel);
    if let Some(dir) = to.parent() {
        fs_err::create_dir_all(dir)?;
    }
    if std::fs::hard_link(from, &to).is_err() {
        fs_err::copy(from, &to)?;
        fs_err::File::open(&to)?.sync_all()?;
    }
    let entry = FileEntry {
        path: rel.to_string(),
        ..known.clone()
    };
    registry.record(entry.clone());
    Ok(entry)
}
