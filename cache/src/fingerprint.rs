//! Content fingerprints of external input folders (a dataset on disk).
//!
//! A folder's digest is blake3 over its sorted (relative path, size, content blake3) list, so
//! it changes exactly when some file's bytes, name or presence change. A memo of
//! (path, size, mtime, inode) -> blake3 lets an unchanged 100 GB dataset be re-checked by
//! `stat` alone.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::memo::{self, MemoRow};
use crate::{Error, Result, store::hash_file, time};
use rayon::prelude::*;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFingerprint {
    /// Relative to the folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub mtime_us: i64,
    pub blake3: String,
}

#[derive(Debug, Clone)]
pub struct DirFingerprint {
    pub files: Vec<FileFingerprint>,
    pub digest: String,
    /// Bytes actually read and hashed this time (the rest came from the memo).
    pub hashed_bytes: u64,
    /// What the walk left out (not a regular file, a name that is not UTF-8, a dangling link).
    pub skipped: Vec<Skipped>,
}

/// An entry of the folder that is not fingerprinted, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Relative to the folder (`/`-separated; bytes that are not UTF-8 shown as U+FFFD).
    pub path: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Include files and folders whose name starts with `.`.
    pub include_hidden: bool,
}

/// What a progress observer is told: bytes hashed so far, out of the bytes to hash.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// Fingerprints every regular file under `root`, hashing in parallel what the memo lacks.
pub fn fingerprint_dir(
    root: &Path,
    memo_dir: &Path,
    opts: Options,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<DirFingerprint> {
    let meta = fs_err::metadata(root)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("`{}` is not a folder", root.display()),
        )
        .into());
    }
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    walk(root, opts, &mut entries, &mut skipped)?;
    // Paths are unique: an unstable sort, in parallel, in byte order (the memo's order).
    entries.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));

    let old = memo::load(memo_dir, root);
    let mut hashes = memo_hits(&old, &entries);
    let todo: Vec<usize> = (0..entries.len())
        .filter(|&i| hashes[i].is_none())
        .collect();
    let total: u64 = todo.iter().map(|&i| entries[i].size).sum();
    let done = AtomicU64::new(0);
    let hashed: Vec<(usize, Result<[u8; 32]>)> = todo
        .par_iter()
        .map(|&i| {
            if cancel.load(Ordering::Relaxed) {
                return (i, Err(Error::Interrupted));
            }
            let r = hash_file(&root.join(&entries[i].rel)).map(|(_, h)| {
                *blake3::Hash::from_hex(&h)
                    .expect("hash_file gives hex")
                    .as_bytes()
            });
            let so_far = done.fetch_add(entries[i].size, Ordering::Relaxed) + entries[i].size;
            progress(so_far, total);
            (i, r)
        })
        .collect();
    for (i, r) in hashed {
        hashes[i] = Some(r?);
    }
    let hashes: Vec<[u8; 32]> = hashes
        .into_iter()
        .map(|h| h.expect("every entry is hashed or memoized"))
        .collect();
    // The memo to keep: every entry but those modified too recently to trust their mtime.
    let now_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0);
    let settled = |e: &Entry| now_ns - e.mtime_ns >= RACY_WINDOW.as_nanos() as i128;
    let unchanged = todo.is_empty() && old.len() == entries.len() && entries.iter().all(&settled);
    if !unchanged {
        let rows: Vec<MemoRow> = entries
            .iter()
            .zip(&hashes)
            .filter(|(e, _)| settled(e))
            .map(|(e, h)| MemoRow {
                rel: e.rel.clone(),
                size: e.size,
                mtime_ns: e.mtime_ns,
                inode: e.inode,
                hash: *h,
            })
            .collect();
        memo::save(memo_dir, root, &rows)?;
    }

    // One buffer hashed once (300,000 small updates cost more than the bytes).
    let mut text = Vec::with_capacity(entries.len() * 100);
    text.extend_from_slice(b"amt-dir-fingerprint-v1\0");
    let files: Vec<FileFingerprint> = entries
        .into_iter()
        .zip(hashes)
        .map(|(e, h)| {
            let blake3 = blake3::Hash::from(h).to_hex().to_string();
            text.extend_from_slice(e.rel.as_bytes());
            text.push(0);
            text.extend_from_slice(e.size.to_string().as_bytes());
            text.push(0);
            text.extend_from_slice(blake3.as_bytes());
            text.push(b'\n');
            FileFingerprint {
                path: e.rel,
                size: e.size,
                mtime_us: e.mtime_us,
                blake3,
            }
        })
        .collect();
    Ok(DirFingerprint {
        files,
        digest: blake3::hash(&text).to_hex().to_string(),
        hashed_bytes: total,
        skipped,
    })
}

/// The memoized hash of each entry (both sorted by path) whose size, mtime and inode match.
fn memo_hits(memo: &[MemoRow], entries: &[Entry]) -> Vec<Option<[u8; 32]>> {
    let mut out = Vec::with_capacity(entries.len());
    let mut j = 0;
    for e in entries {
        while j < memo.len() && memo[j].rel.as_str() < e.rel.as_str() {
            j += 1;
        }
        out.push(match memo.get(j) {
            Some(m)
                if m.rel == e.rel
                    && m.size == e.size
                    && m.mtime_ns == e.mtime_ns
                    && m.inode == e.inode =>
            {
                Some(m.hash)
            }
            _ => None,
        });
    }
    out
}

struct Entry {
    /// Relative to the root, `/`-separated.
    rel: String,
    size: u64,
    mtime_us: i64,
    mtime_ns: i128,
    inode: u64,
}

/// `a/b/.../y/z` shortened to its first and last components when long (a 3000-level tree
/// gives a line, not a 4 KB path).
fn short_path(rel: &Path) -> String {
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.len() <= 8 {
        return parts.join("/");
    }
    format!(
        "{}/.../{} ({} levels deep)",
        parts[..3].join("/"),
        parts[parts.len() - 3..].join("/"),
        parts.len()
    )
}

/// Walks `root` level by level, the folders of a level read in parallel (listing 100,000
/// track folders is hundreds of thousands of system calls; two cores halve the wait), without
/// recursion (deep trees cannot overflow the stack).
fn walk(
    root: &Path,
    opts: Options,
    out: &mut Vec<Entry>,
    skipped: &mut Vec<Skipped>,
) -> Result<()> {
    // (absolute path, path relative to the root) of each folder of the level.
    let mut level = vec![(root.to_owned(), String::new())];
    while !level.is_empty() {
        let listed: Vec<Result<Listing>> = level
            .par_iter()
            .map(|(dir, rel)| list_dir(root, dir, rel, opts))
            .collect();
        let mut next = Vec::new();
        for l in listed {
            let l = l?;
            out.extend(l.files);
            skipped.extend(l.skipped);
            next.extend(l.dirs);
        }
        level = next;
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

/// What one folder holds: files (with their metadata), sub-folders to walk, and what is skipped.
#[derive(Default)]
struct Listing {
    files: Vec<Entry>,
    dirs: Vec<(PathBuf, String)>,
    skipped: Vec<Skipped>,
}

/// Lists `dir` (`rel_dir` relative to `root`, `/`-separated; empty for the root itself).
fn list_dir(root: &Path, dir: &Path, rel_dir: &str, opts: Options) -> Result<Listing> {
    let rel_join = |name: &str| {
        if rel_dir.is_empty() {
            name.to_string()
        } else {
            format!("{rel_dir}/{name}")
        }
    };
    let io_err = |rel: &str, e: std::io::Error| -> crate::Error {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot read `{}` in `{}`: {e}",
                short_path(Path::new(rel)),
                root.display()
            ),
        )
        .into()
    };
    let mut out = Listing::default();
    let entries = std::fs::read_dir(dir).map_err(|e| io_err(rel_dir, e))?;
    for e in entries {
        let e = e.map_err(|e| io_err(rel_dir, e))?;
        let os_name = e.file_name();
        let Some(name) = os_name.to_str() else {
            out.skipped.push(Skipped {
                path: rel_join(&os_name.to_string_lossy()),
                reason: "its name is not UTF-8",
            });
            continue;
        };
        if !opts.include_hidden && name.starts_with('.') {
            continue;
        }
        let rel = rel_join(name);
        // The entry's type comes with the listing: folders need no `stat`.
        let ft = e.file_type().map_err(|e| io_err(&rel, e))?;
        if ft.is_dir() {
            out.dirs.push((e.path(), rel));
            continue;
        }
        // Symlinks to files are read through; symlinked folders are not walked (cycles).
        let meta = if ft.is_symlink() {
            match std::fs::metadata(e.path()) {
                Ok(m) if m.is_file() => m,
                Ok(_) => {
                    out.skipped.push(Skipped {
                        path: rel,
                        reason: "a symbolic link to a folder (not followed)",
                    });
                    continue;
                }
                Err(_) => {
                    out.skipped.push(Skipped {
                        path: rel,
                        reason: "a dangling symbolic link",
                    });
                    continue;
                }
            }
        } else {
            // A `statx` relative to the open folder: no path walk from the root.
            e.metadata().map_err(|e| io_err(&rel, e))?
        };
        if meta.is_file() {
            let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            out.files.push(Entry {
                rel,
                size: meta.len(),
                mtime_us: time::unix_micros(mtime),
                mtime_ns: mtime
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as i128)
                    .unwrap_or(0),
                inode: inode(&meta),
            });
        } else {
            out.skipped.push(Skipped {
                path: rel,
                reason: "not a regular file",
            });
        }
    }
    Ok(out)
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_: &std::fs::Metadata) -> u64 {
    0
}

/// A file modified this recently may change again within the same mtime tick; its hash is
/// not memoized (the "racy git" problem).
const RACY_WINDOW: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(root: &Path, memo: &Path) -> DirFingerprint {
        fingerprint_dir(
            root,
            memo,
            Options::default(),
            &|_, _| {},
            &AtomicBool::new(false),
        )
        .unwrap()
    }

    fn age(path: &Path) {
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }

    #[test]
    fn digest_tracks_content_and_memo_skips_unchanged_files() {
        let data = tempfile::tempdir().unwrap();
        let memo = tempfile::tempdir().unwrap();
        std::fs::create_dir(data.path().join("sub")).unwrap();
        std::fs::write(data.path().join("a.txt"), b"hello").unwrap();
        std::fs::write(data.path().join("sub/b.txt"), b"world!").unwrap();
        std::fs::write(data.path().join(".hidden"), b"x").unwrap();
        age(&data.path().join("a.txt"));
        age(&data.path().join("sub/b.txt"));

        let first = fp(data.path(), memo.path());
        assert_eq!(
            first
                .files
                .iter()
                .map(|f| f.path.as_str())
                .collect::<Vec<_>>(),
            ["a.txt", "sub/b.txt"]
        );
        assert_eq!(
            first.files[0].blake3,
            blake3::hash(b"hello").to_hex().as_str()
        );
        assert_eq!(first.hashed_bytes, 11);
        // The digest's formula is part of every extract key: it must not drift.
        let mut text = b"amt-dir-fingerprint-v1\0".to_vec();
        for (path, bytes) in [("a.txt", &b"hello"[..]), ("sub/b.txt", b"world!")] {
            let line = format!(
                "{path}\0{}\0{}\n",
                bytes.len(),
                blake3::hash(bytes).to_hex()
            );
            text.extend_from_slice(line.as_bytes());
        }
        assert_eq!(first.digest, blake3::hash(&text).to_hex().as_str());

        let second = fp(data.path(), memo.path());
        assert_eq!(second.digest, first.digest);
        assert_eq!(second.hashed_bytes, 0, "memo hit for unchanged files");

        std::fs::write(data.path().join("sub/b.txt"), b"World!").unwrap();
        let third = fp(data.path(), memo.path());
        assert_ne!(third.digest, first.digest);
        assert_eq!(third.hashed_bytes, 6, "only the changed file is re-hashed");
    }

    #[test]
    fn renaming_a_file_changes_the_digest() {
        let data = tempfile::tempdir().unwrap();
        let memo = tempfile::tempdir().unwrap();
        std::fs::write(data.path().join("a"), b"same").unwrap();
        let before = fp(data.path(), memo.path()).digest;
        std::fs::rename(data.path().join("a"), data.path().join("b")).unwrap();
        assert_ne!(fp(data.path(), memo.path()).digest, before);
    }

    #[test]
    fn missing_folder_is_a_clear_error() {
        let memo = tempfile::tempdir().unwrap();
        let err = fingerprint_dir(
            Path::new("/nonexistent/amt-data"),
            memo.path(),
            Options::default(),
            &|_, _| {},
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/amt-data"), "{err}");
    }
}
