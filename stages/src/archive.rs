//! Safe extraction of dataset archives (tar, tar.gz, zip), atomic per dataset.
//!
//! Every entry is checked before anything is written: `..` components, absolute paths,
//! symbolic links that are absolute or climb with `..`, hard links to anything but an earlier
//! regular file of the archive, device files and FIFOs are rejected with the entry's name.
//! Total bytes and file count are capped relative to the archive's size (decompression bombs).
//! Entries go into a hidden temporary folder beside the target, which is renamed into place
//! only when the whole archive is extracted; on any error the temporary folder is removed, so
//! there is never a half-extracted dataset folder.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, Progress, Result};

/// How archives are handled. Not part of any key: they decide whether extraction is allowed
/// and what happens to the archive afterwards, never what the extracted files are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArchiveOptions {
    /// Keep the verified archive after extraction (YourMT3 deletes it).
    pub keep_archive: bool,
    /// An archive may expand to at most this many times its size (at least 1 MiB).
    pub max_ratio: f64,
    /// At most this many files; 0: 100 000 plus one per KiB of archive.
    pub max_files: u64,
}

impl Default for ArchiveOptions {
    fn default() -> Self {
        ArchiveOptions {
            keep_archive: true,
            max_ratio: 100.0,
            max_files: 0,
        }
    }
}

static OPTIONS: std::sync::Mutex<Option<ArchiveOptions>> = std::sync::Mutex::new(None);

/// Sets the options for this process (`amt install` flags).
pub fn set_options(o: ArchiveOptions) {
    *OPTIONS.lock().unwrap_or_else(|e| e.into_inner()) = Some(o);
}

/// The options set by [`set_options`], else from `AMT_KEEP_ARCHIVE` (0/false deletes),
/// `AMT_EXTRACT_MAX_RATIO` and `AMT_EXTRACT_MAX_FILES`, else the defaults.
pub fn options() -> ArchiveOptions {
    if let Some(o) = *OPTIONS.lock().unwrap_or_else(|e| e.into_inner()) {
        return o;
    }
    let d = ArchiveOptions::default();
    let var = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_ascii_lowercase());
    ArchiveOptions {
        keep_archive: var("AMT_KEEP_ARCHIVE").map_or(d.keep_archive, |v| {
            !matches!(v.as_str(), "0" | "false" | "no")
        }),
        max_ratio: var("AMT_EXTRACT_MAX_RATIO")
            .and_then(|v| v.parse().ok())
            .unwrap_or(d.max_ratio),
        max_files: var("AMT_EXTRACT_MAX_FILES")
            .and_then(|v| v.parse().ok())
            .unwrap_or(d.max_files),
    }
}

/// Caps on what one archive may expand to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_files: u64,
}

impl Limits {
    /// `max_ratio` x the archive size (at least 1 MiB); files: `max_files`, or when 0,
    /// 100 000 plus one per KiB of archive.
    pub fn for_archive(archive_size: u64, max_ratio: f64, max_files: u64) -> Limits {
        let bytes = (archive_size as f64 * max_ratio.max(1.0)).min(u64::MAX as f64) as u64;
        Limits {
            max_bytes: bytes.max(1 << 20),
            max_files: if max_files > 0 {
                max_files
            } else {
                100_000 + archive_size / 1024
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "dataset `{dataset}`: the archive `{archive}` has an unsafe entry `{entry}`: {reason}; nothing was extracted"
    )]
    Unsafe {
        dataset: String,
        archive: PathBuf,
        entry: String,
        reason: String,
    },
    #[error(
        "dataset `{dataset}`: the archive `{archive}` expands beyond {limit} (at entry `{entry}`): a decompression bomb or an unusually compressible dataset; nothing was extracted. If you trust it, raise the limit: `amt install --max-ratio N --max-files N` (or AMT_EXTRACT_MAX_RATIO / AMT_EXTRACT_MAX_FILES)"
    )]
    TooLarge {
        dataset: String,
        archive: PathBuf,
        entry: String,
        limit: String,
    },
    #[error(
        "dataset `{dataset}`: cannot read the archive `{archive}`: {reason}; delete it and download again (`amt stage download --force --datasets {dataset}`)"
    )]
    Corrupt {
        dataset: String,
        archive: PathBuf,
        reason: String,
    },
    #[error(
        "dataset `{dataset}`: the folder `{folder}` already exists; extraction never overwrites a folder: remove it or install with --nodown to use it as it is"
    )]
    TargetExists { dataset: String, folder: PathBuf },
}

impl From<ArchiveError> for Error {
    fn from(e: ArchiveError) -> Error {
        Error::Archive(Box::new(e))
    }
}

/// What extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Tar,
    TarGz,
    Zip,
}

fn sniff(path: &Path) -> std::io::Result<Option<Format>> {
    let mut f = File::open(path)?;
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        let k = f.read(&mut head[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    head.truncate(n);
    Ok(if head.starts_with(&[0x1f, 0x8b]) {
        Some(Format::TarGz)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Some(Format::Zip)
    } else if head.len() == 512 && tar_checksum_ok(&head) {
        Some(Format::Tar)
    } else {
        None
    })
}

/// A tar header's checksum (old, ustar and GNU formats alike): the sum of its bytes with the
/// checksum field read as spaces, stored as octal at 148..156.
fn tar_checksum_ok(h: &[u8]) -> bool {
    let field = String::from_utf8_lossy(&h[148..156]);
    let field = field.trim_matches(|c: char| c == '\0' || c == ' ');
    let Ok(stored) = u32::from_str_radix(field, 8) else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    sum == stored && h[0] != 0
}

/// Extracts `archive` into `target` (which must not exist): into a temporary folder beside
/// it, then renamed. An archive whose entries all sit under one top folder has that folder
/// stripped (`maestro_yourmt3_16k/...` becomes the target's content).
pub fn extract_archive(
    dataset: &str,
    archive: &Path,
    target: &Path,
    limits: Limits,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Extracted> {
    if target.exists() {
        return Err(ArchiveError::TargetExists {
            dataset: dataset.into(),
            folder: target.to_owned(),
        }
        .into());
    }
    let parent = target.parent().unwrap_or(Path::new("."));
    fs_err::create_dir_all(parent)?;
    let stem = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("dataset");
    remove_stale_temps(parent, stem);
    let tmp = TempDir(amt_cache::atomic::unique_temp_name(
        parent,
        &format!("{stem}.extracting"),
    ));
    fs_err::create_dir(&tmp.0)?;

    let mut x = Extractor {
        dataset,
        archive,
        root: &tmp.0,
        limits,
        done: Extracted::default(),
        cancel,
    };
    let corrupt = |e: std::io::Error| -> Error {
        ArchiveError::Corrupt {
            dataset: dataset.into(),
            archive: archive.to_owned(),
            reason: e.to_string(),
        }
        .into()
    };
    let size = fs_err::metadata(archive)?.len();
    progress.begin("extracting", true);
    match sniff(archive)? {
        Some(Format::Tar) => {
            let r = Counting::new(File::open(archive)?, progress, size);
            x.tar(tar::Archive::new(r)).map_err(|e| x.io(e, corrupt))?
        }
        Some(Format::TarGz) => {
            let r = Counting::new(File::open(archive)?, progress, size);
            let gz = flate2::read::GzDecoder::new(BufReader::new(r));
            x.tar(tar::Archive::new(gz)).map_err(|e| x.io(e, corrupt))?
        }
        Some(Format::Zip) => x.zip(File::open(archive)?, progress, size)?,
        None => {
            return Err(ArchiveError::Corrupt {
                dataset: dataset.into(),
                archive: archive.to_owned(),
                reason: "not a tar, tar.gz or zip file".into(),
            }
            .into());
        }
    }
    let done = x.done;

    // One top folder and nothing else: that folder is the dataset.
    let mut top: Vec<PathBuf> = Vec::new();
    for e in fs_err::read_dir(&tmp.0)? {
        top.push(e?.path());
    }
    let source = match top.as_slice() {
        [only] if fs_err::symlink_metadata(only)?.is_dir() => only.clone(),
        _ => tmp.0.clone(),
    };
    if target.exists() {
        return Err(ArchiveError::TargetExists {
            dataset: dataset.into(),
            folder: target.to_owned(),
        }
        .into());
    }
    fs_err::rename(&source, target)?;
    amt_cache::atomic::sync_dir(parent)?;
    Ok(done)
}

/// Leftovers of an extraction that was killed (`kill -9`, power cut): runs hold the store's
/// exclusive lock, so no other extraction of this folder can be under way.
fn remove_stale_temps(parent: &Path, stem: &str) {
    let prefix = format!(".{stem}.extracting.");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            tracing::info!("removing `{}`, left by an interrupted extraction", name);
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes the temporary folder whatever happens (error, panic, success: then it is empty or
/// already renamed away).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A reader that reports how far into the archive file it is.
struct Counting<'a, R> {
    inner: R,
    pos: u64,
    total: u64,
    progress: &'a dyn Progress,
}

impl<'a, R> Counting<'a, R> {
    fn new(inner: R, progress: &'a dyn Progress, total: u64) -> Self {
        Counting {
            inner,
            pos: 0,
            total,
            progress,
        }
    }
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        self.progress.update(self.pos, self.total);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<'_, R> {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// An error raised inside an `io::Result` chain that must keep its own message.
#[derive(Debug)]
struct Carried(Error);

impl std::fmt::Display for Carried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Carried {}

fn carry(e: Error) -> std::io::Error {
    std::io::Error::other(Carried(e))
}

struct Extractor<'a> {
    dataset: &'a str,
    archive: &'a Path,
    root: &'a Path,
    limits: Limits,
    done: Extracted,
    cancel: &'a AtomicBool,
}

impl Extractor<'_> {
    /// Unwraps an error carried through io, or treats it as a corrupt archive.
    fn io(&self, e: std::io::Error, corrupt: impl Fn(std::io::Error) -> Error) -> Error {
        if e.get_ref().is_some_and(|i| i.is::<Carried>()) {
            let inner = e.into_inner().expect("checked above");
            match inner.downcast::<Carried>() {
                Ok(c) => c.0,
                Err(other) => corrupt(std::io::Error::other(other)),
            }
        } else {
            corrupt(e)
        }
    }

    fn unsafe_entry(&self, entry: &str, reason: impl Into<String>) -> Error {
        ArchiveError::Unsafe {
            dataset: self.dataset.into(),
            archive: self.archive.to_owned(),
            entry: entry.into(),
            reason: reason.into(),
        }
        .into()
    }

    fn too_large(&self, entry: &str, limit: String) -> Error {
        ArchiveError::TooLarge {
            dataset: self.dataset.into(),
            archive: self.archive.to_owned(),
            entry: entry.into(),
            limit,
        }
        .into()
    }

    /// The entry's path, relative and inside the root, or an error naming it.
    fn safe_relative(&self, name: &str, raw: &Path) -> Result<PathBuf> {
        let mut out = PathBuf::new();
        for c in raw.components() {
            match c {
                Component::Normal(p) => out.push(p),
                Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.unsafe_entry(name, "its path climbs out with `..`"));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_entry(name, "its path is absolute"));
                }
            }
        }
        Ok(out)
    }

    /// Creates the parent folders of `rel`, refusing to go through a symbolic link.
    fn prepare_parent(&self, name: &str, rel: &Path) -> Result<PathBuf> {
        let mut cur = self.root.to_path_buf();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                cur.push(c);
                match std::fs::symlink_metadata(&cur) {
                    Ok(m) if m.file_type().is_symlink() => {
                        return Err(
                            self.unsafe_entry(name, "it would be written through a symbolic link")
                        );
                    }
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(self.unsafe_entry(name, "a parent of it is a file"));
                    }
                    Err(_) => fs_err::create_dir(&cur)?,
                }
            }
        }
        let dest = self.root.join(rel);
        if std::fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(self.unsafe_entry(name, "it replaces a symbolic link"));
        }
        Ok(dest)
    }

    fn count_file(&mut self, name: &str) -> Result<()> {
        self.done.files += 1;
        if self.done.files > self.limits.max_files {
            return Err(self.too_large(name, format!("{} files", self.limits.max_files)));
        }
        Ok(())
    }

    /// Copies at most what the byte cap allows, whatever the entry's header claims.
    fn write_file(&mut self, name: &str, dest: &Path, mut r: impl Read) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        self.count_file(name)?;
        let mut f = fs_err::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(dest)?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match r.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ArchiveError::Corrupt {
                        dataset: self.dataset.into(),
                        archive: self.archive.to_owned(),
                        reason: format!("entry `{name}`: {e}"),
                    }
                    .into());
                }
            };
            if n == 0 {
                break;
            }
            self.done.bytes += n as u64;
            if self.done.bytes > self.limits.max_bytes {
                return Err(self.too_large(name, format!("{} bytes", self.limits.max_bytes)));
            }
            f.write_all(&buf[..n])?;
        }
        f.sync_all()?;
        Ok(())
    }

    /// A symbolic link is kept only if it stays inside the dataset: relative, no `..`.
    fn check_link_target(&self, name: &str, target: &Path) -> Result<()> {
        for c in target.components() {
            match c {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(self.unsafe_entry(
                        name,
                        format!(
                            "it is a symbolic link to `{}`, which climbs out with `..`",
                            target.display()
                        ),
                    ));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(self.unsafe_entry(
                        name,
                        format!(
                            "it is a symbolic link to the absolute path `{}`",
                            target.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn tar<R: Read>(&mut self, mut ar: tar::Archive<R>) -> std::io::Result<()> {
        for entry in ar.entries()? {
            let entry = entry?;
            self.tar_entry(entry).map_err(carry)?;
        }
        Ok(())
    }

    fn tar_entry<R: Read>(&mut self, mut entry: tar::Entry<'_, R>) -> Result<()> {
        use tar::EntryType as T;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let raw_path = entry
            .path()
            .map_err(|e| self.unsafe_entry(&name, format!("unreadable path: {e}")))?
            .into_owned();
        let rel = self.safe_relative(&name, &raw_path)?;
        let kind = entry.header().entry_type();
        if rel.as_os_str().is_empty() {
            return if kind == T::Directory {
                Ok(())
            } else {
                Err(self.unsafe_entry(&name, "it has an empty path"))
            };
        }
        match kind {
            T::Regular | T::Continuous | T::GNUSparse => {
                let claimed = entry.header().size().unwrap_or(0);
                if self.done.bytes.saturating_add(claimed) > self.limits.max_bytes {
                    return Err(self.too_large(&name, format!("{} bytes", self.limits.max_bytes)));
                }
                let dest = self.prepare_parent(&name, &rel)?;
                self.write_file(&name, &dest, &mut entry)
            }
            T::Directory => {
                let dest = self.prepare_parent(&name, &rel)?;
                match std::fs::symlink_metadata(&dest) {
                    Ok(m) if m.is_dir() => Ok(()),
                    Ok(_) => Err(self.unsafe_entry(&name, "a file of that name exists")),
                    Err(_) => Ok(fs_err::create_dir(&dest)?),
                }
            }
            T::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.unsafe_entry(&name, format!("unreadable link: {e}")))?
                    .ok_or_else(|| self.unsafe_entry(&name, "a symbolic link without a target"))?
                    .into_owned();
                self.check_link_target(&name, &target)?;
                let dest = self.prepare_parent(&name, &rel)?;
                self.count_file(&name)?;
                symlink(&target, &dest)
            }
            T::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| self.unsafe_entry(&name, format!("unreadable link: {e}")))?
                    .ok_or_else(|| self.unsafe_entry(&name, "a hard link without a target"))?
                    .into_owned();
                let target_rel = self.safe_relative(&name, &target).map_err(|_| {
                    self.unsafe_entry(
                        &name,
                        format!(
                            "it is a hard link to `{}`, outside the archive",
                            target.display()
                        ),
                    )
                })?;
                let src = self.root.join(&target_rel);
                let is_file = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_file());
                if !is_file || target_rel.as_os_str().is_empty() {
                    return Err(self.unsafe_entry(
                        &name,
                        format!(
                            "it is a hard link to `{}`, which is not an earlier file of the archive",
                            target.display()
                        ),
                    ));
                }
                let dest = self.prepare_parent(&name, &rel)?;
                self.count_file(&name)?;
                Ok(fs_err::hard_link(&src, &dest)?)
            }
            T::Char | T::Block | T::Fifo => Err(self.unsafe_entry(
                &name,
                "it is a device file or FIFO, which a dataset never needs",
            )),
            // pax/GNU metadata the tar crate already applied, or unknown kinds: skip.
            _ => {
                tracing::debug!("skipping archive entry `{name}` of type {kind:?}");
                Ok(())
            }
        }
    }

    fn zip(&mut self, file: File, progress: &dyn Progress, size: u64) -> Result<()> {
        let corrupt = |reason: String| -> Error {
            ArchiveError::Corrupt {
                dataset: self.dataset.into(),
                archive: self.archive.to_owned(),
                reason,
            }
            .into()
        };
        let mut zip =
            zip::ZipArchive::new(BufReader::new(file)).map_err(|e| corrupt(e.to_string()))?;
        // Check every name first: a bad entry anywhere rejects the archive before any write.
        for i in 0..zip.len() {
            let f = zip.by_index_raw(i).map_err(|e| corrupt(e.to_string()))?;
            let name = f.name().map_err(|e| corrupt(e.to_string()))?.into_owned();
            if name.contains('\\') {
                return Err(self.unsafe_entry(&name, "its path contains a backslash"));
            }
            self.safe_relative(&name, Path::new(&name))?;
        }
        let count = zip.len().max(1) as u64;
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).map_err(|e| corrupt(e.to_string()))?;
            let name = f.name().map_err(|e| corrupt(e.to_string()))?.into_owned();
            let rel = self.safe_relative(&name, Path::new(&name))?;
            if rel.as_os_str().is_empty() {
                continue;
            }
            let mode = f.unix_mode().unwrap_or(0);
            let file_type = mode & 0o170000;
            if f.is_symlink() {
                let mut target = String::new();
                f.by_ref()
                    .take(4096)
                    .read_to_string(&mut target)
                    .map_err(|e| corrupt(format!("entry `{name}`: {e}")))?;
                self.check_link_target(&name, Path::new(&target))?;
                let dest = self.prepare_parent(&name, &rel)?;
                self.count_file(&name)?;
                symlink(Path::new(&target), &dest)?;
            } else if f.is_dir() {
                let dest = self.prepare_parent(&name, &rel)?;
                if !dest.is_dir() {
                    fs_err::create_dir(&dest)?;
                }
            } else if file_type != 0 && file_type != 0o100000 {
                return Err(self.unsafe_entry(
                    &name,
                    "it is a device file or FIFO, which a dataset never needs",
                ));
            } else {
                if self.done.bytes.saturating_add(f.size()) > self.limits.max_bytes {
                    return Err(self.too_large(&name, format!("{} bytes", self.limits.max_bytes)));
                }
                let dest = self.prepare_parent(&name, &rel)?;
                self.write_file(&name, &dest, &mut f)?;
            }
            progress.update((i as u64 + 1) * size / count, size);
        }
        Ok(())
    }
}

#[cfg(unix)]
fn symlink(target: &Path, dest: &Path) -> Result<()> {
    Ok(std::os::unix::fs::symlink(target, dest)?)
}

#[cfg(not(unix))]
fn symlink(target: &Path, _dest: &Path) -> Result<()> {
    Err(std::io::Error::other(format!(
        "symbolic links (to `{}`) are not supported on this platform",
        target.display()
    ))
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoProgress;

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn extract(files: &[(&str, &[u8])], home: &Path) -> Result<Extracted> {
        let archive = home.join("a.tar");
        std::fs::write(&archive, tar_of(files)).unwrap();
        let limits = Limits::for_archive(1000, 100.0, 0);
        extract_archive(
            "t",
            &archive,
            &home.join("ds"),
            limits,
            &NoProgress,
            &AtomicBool::new(false),
        )
    }

    #[test]
    fn one_top_folder_is_stripped_and_stale_temps_go() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(".ds.extracting.1.2.3.tmp");
        std::fs::create_dir_all(stale.join("half")).unwrap();
        let got = extract(&[("top/a.txt", b"a"), ("top/b/c.txt", b"cc")], dir.path()).unwrap();
        assert_eq!(got, Extracted { files: 2, bytes: 3 });
        assert_eq!(std::fs::read(dir.path().join("ds/b/c.txt")).unwrap(), b"cc");
        assert!(!stale.exists());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.tar", "ds"]);
    }

    #[test]
    fn several_top_entries_are_kept_and_existing_folders_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        extract(&[("x.txt", b"x"), ("y/z.txt", b"z")], dir.path()).unwrap();
        assert!(dir.path().join("ds/x.txt").is_file());
        assert!(dir.path().join("ds/y/z.txt").is_file());
        let err = extract(&[("w.txt", b"w")], dir.path()).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert!(!dir.path().join("ds/w.txt").exists());
    }

    #[test]
    fn limits_scale_with_the_archive() {
        let l = Limits::for_archive(10 << 20, 100.0, 0);
        assert_eq!(l.max_bytes, 1000 << 20);
        assert_eq!(l.max_files, 100_000 + 10 * 1024);
        assert_eq!(Limits::for_archive(10, 100.0, 7).max_bytes, 1 << 20);
        assert_eq!(Limits::for_archive(10, 100.0, 7).max_files, 7);
    }
}
