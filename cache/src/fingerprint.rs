//! Content fingerprints of external input folders (a dataset on disk).
//!
//! A folder's digest is blake3 over its sorted (relative path, size, content blake3) list, so
//! it changes exactly when some file's bytes, name or presence change. A memo of
//! (path, size, mtime, inode) -> blake3 lets an unchanged 100 GB dataset be re-checked by
//! `stat` alone.

use std::collections::HashMap;

use rustix::fs::{AtFlags, FileType, Stat, statat};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::memo::{self, DirRow, DirStat, Memo, MemoRow};
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
    let Hashed {
        entries,
        hashes,
        hashed_bytes,
        skipped,
        ..
    } = hash_tree(root, memo_dir, opts, progress, cancel)?;
    let digest = digest_of(&entries, &hashes);
    crate::noop::note_folder(crate::noop::FolderDigest {
        root: root.to_owned(),
        memo_dir: memo_dir.to_owned(),
        include_hidden: opts.include_hidden,
        digest: digest.clone(),
    });
    let files = entries
        .into_iter()
        .zip(hashes)
        .map(|(e, h)| FileFingerprint {
            path: e.rel,
            size: e.size,
            mtime_us: e.mtime_us,
            blake3: blake3::Hash::from(h).to_hex().to_string(),
        })
        .collect();
    Ok(DirFingerprint {
        files,
        digest,
        hashed_bytes,
        skipped,
    })
}

/// The digest [`fingerprint_dir`] gives, without building its per-file list.
pub fn folder_digest(
    root: &Path,
    memo_dir: &Path,
    opts: Options,
    cancel: &AtomicBool,
) -> Result<String> {
    let h = hash_tree(root, memo_dir, opts, &|_, _| {}, cancel)?;
    Ok(digest_of(&h.entries, &h.hashes))
}

/// Every file of a tree (sorted by path) with its content hash.
struct Hashed {
    entries: Vec<Entry>,
    hashes: Vec<[u8; 32]>,
    hashed_bytes: u64,
    skipped: Vec<Skipped>,
    /// Folders listed (the others came from the memo): what the tests count.
    #[cfg_attr(not(test), allow(dead_code))]
    listed_dirs: usize,
}

fn hash_tree(
    root: &Path,
    memo_dir: &Path,
    opts: Options,
    progress: Progress<'_>,
    cancel: &AtomicBool,
) -> Result<Hashed> {
    let meta = fs_err::metadata(root)?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("`{}` is not a folder", root.display()),
        )
        .into());
    }
    let old = memo::load(memo_dir, root);
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let (mut dirs, listed_dirs) = walk(
        root,
        opts,
        &known_dirs(&old, opts),
        &mut entries,
        &mut skipped,
    )?;
    // Paths are unique: an unstable sort, in parallel, in byte order (the memo's order).
    entries.par_sort_unstable_by(|a, b| a.rel.cmp(&b.rel));

    let mut hashes = memo_hits(&old.files, &entries);
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
    let window = RACY_WINDOW.as_nanos() as i128;
    let settled = |e: &Entry| now_ns - e.mtime_ns >= window;
    // A folder changed this recently may change again unseen: it is listed next time.
    dirs.retain(|d| now_ns - d.stat.mtime_ns.max(d.stat.ctime_ns) >= window);
    dirs.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    let unchanged = todo.is_empty()
        && old.files.len() == entries.len()
        && entries.iter().all(&settled)
        && old.dirs == dirs
        && old.include_hidden == opts.include_hidden;
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
        let memo = Memo {
            files: rows,
            dirs,
            include_hidden: opts.include_hidden,
        };
        memo::save(memo_dir, root, &memo)?;
    }
    Ok(Hashed {
        entries,
        hashes,
        hashed_bytes: total,
        skipped,
        listed_dirs,
    })
}

/// blake3 over the sorted (path, size, content hash) lines: one buffer hashed once (300,000
/// small updates cost more than the bytes).
fn digest_of(entries: &[Entry], hashes: &[[u8; 32]]) -> String {
    let mut text = Vec::with_capacity(entries.len() * 100);
    text.extend_from_slice(b"amt-dir-fingerprint-v1\0");
    for (e, h) in entries.iter().zip(hashes) {
        text.extend_from_slice(e.rel.as_bytes());
        text.push(0);
        text.extend_from_slice(e.size.to_string().as_bytes());
        text.push(0);
        text.extend_from_slice(blake3::Hash::from(*h).to_hex().as_bytes());
        text.push(b'\n');
    }
    blake3::hash(&text).to_hex().to_string()
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

/// The memo's folders whose entries stand in for a listing while their `stat` is unchanged:
/// their file and folder rows, when those add up to the entries the listing gave.
struct KnownDir<'m> {
    stat: DirStat,
    files: Vec<&'m str>,
    dirs: Vec<&'m str>,
}

fn known_dirs(memo: &Memo, opts: Options) -> HashMap<&str, KnownDir<'_>> {
    if memo.include_hidden != opts.include_hidden {
        return HashMap::new();
    }
    let mut known: HashMap<&str, (KnownDir<'_>, u32)> = memo
        .dirs
        .iter()
        .map(|d| {
            let k = KnownDir {
                stat: d.stat,
                files: Vec::new(),
                dirs: Vec::new(),
            };
            (d.rel.as_str(), (k, d.children))
        })
        .collect();
    fn parent(rel: &str) -> &str {
        rel.rsplit_once('/').map_or("", |(p, _)| p)
    }
    for f in &memo.files {
        if let Some((k, _)) = known.get_mut(parent(&f.rel)) {
            k.files.push(&f.rel);
        }
    }
    for d in memo.dirs.iter().filter(|d| !d.rel.is_empty()) {
        if let Some((k, _)) = known.get_mut(parent(&d.rel)) {
            k.dirs.push(&d.rel);
        }
    }
    known
        .into_iter()
        .filter(|(_, (k, n))| k.files.len() + k.dirs.len() == *n as usize)
        .map(|(rel, (k, _))| (rel, k))
        .collect()
}

/// Walks `root` level by level, the folders of a level read in parallel (listing 100,000
/// track folders is hundreds of thousands of system calls; two cores halve the wait), without
/// recursion (deep trees cannot overflow the stack). A folder the memo knows with the same
/// `stat` is not listed: its known files are `stat`ed. Returns the folders to memoize and how
/// many folders were listed.
fn walk(
    root: &Path,
    opts: Options,
    known: &HashMap<&str, KnownDir<'_>>,
    out: &mut Vec<Entry>,
    skipped: &mut Vec<Skipped>,
) -> Result<(Vec<DirRow>, usize)> {
    let root_dir = fs_err::File::open(root)?;
    let mut rows = Vec::new();
    let mut n_listed = 0;
    // Each folder of the level, relative to the root.
    let mut level = vec![String::new()];
    while !level.is_empty() {
        let listed: Vec<Result<Listing>> = level
            .par_iter()
            .map(|rel| visit(root, &root_dir, rel, opts, known))
            .collect();
        let mut next = Vec::new();
        for l in listed {
            let l = l?;
            n_listed += usize::from(l.listed);
            out.extend(l.files);
            skipped.extend(l.skipped);
            next.extend(l.dirs);
            rows.extend(l.row);
        }
        level = next;
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((rows, n_listed))
}

/// One folder: from the memo when it knows the folder as it is, else listed.
fn visit(
    root: &Path,
    root_dir: &fs_err::File,
    rel: &str,
    opts: Options,
    known: &HashMap<&str, KnownDir<'_>>,
) -> Result<Listing> {
    let dir = if rel.is_empty() { "." } else { rel };
    // Before listing: a change made while it is listed then shows in the next run's stat.
    let stat = stat_at(root_dir, dir, false)
        .map(|st| DirStat {
            mtime_ns: st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128,
            ctime_ns: st.st_ctime as i128 * 1_000_000_000 + st.st_ctime_nsec as i128,
            inode: st.st_ino,
        })
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot read `{}` in `{}`: {e}",
                    short_path(Path::new(rel)),
                    root.display()
                ),
            )
        })?;
    if let Some(k) = known.get(rel).filter(|k| k.stat == stat)
        && let Some(mut l) = from_memo(root_dir, k)
    {
        l.row = Some(DirRow {
            rel: rel.to_owned(),
            stat,
            children: (k.files.len() + k.dirs.len()) as u32,
        });
        return Ok(l);
    }
    let mut l = list_dir(root, &root.join(rel), rel, opts)?;
    l.listed = true;
    if l.skipped.is_empty() {
        l.row = Some(DirRow {
            rel: rel.to_owned(),
            stat,
            children: (l.files.len() + l.dirs.len()) as u32,
        });
    }
    Ok(l)
}

/// The entries of a folder whose listing the memo holds; `None` when a known file is gone or
/// no longer a file (the folder is then listed).
fn from_memo(root_dir: &fs_err::File, k: &KnownDir<'_>) -> Option<Listing> {
    let mut files = Vec::with_capacity(k.files.len());
    for rel in &k.files {
        // Symbolic links to files are read through, as the listing does.
        let st = stat_at(root_dir, rel, true).ok()?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return None;
        }
        let mtime_ns = st.st_mtime as i128 * 1_000_000_000 + st.st_mtime_nsec as i128;
        files.push(Entry {
            rel: (*rel).to_owned(),
            size: st.st_size as u64,
            mtime_us: mtime_ns.div_euclid(1000).try_into().unwrap_or(i64::MAX),
            mtime_ns,
            inode: st.st_ino,
        });
    }
    Some(Listing {
        files,
        dirs: k.dirs.iter().map(|d| (*d).to_owned()).collect(),
        ..Listing::default()
    })
}

/// `fstatat` relative to the open root (a short path walk, not one from `/`).
fn stat_at(root_dir: &fs_err::File, rel: &str, follow: bool) -> std::io::Result<Stat> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::SYMLINK_NOFOLLOW
    };
    Ok(statat(root_dir.file(), rel, flags)?)
}

/// What one folder holds: files (with their metadata), sub-folders to walk, what is skipped,
/// and the folder's memo row (none when something was skipped: it is listed every time).
#[derive(Default)]
struct Listing {
    files: Vec<Entry>,
    /// Relative to the root.
    dirs: Vec<String>,
    skipped: Vec<Skipped>,
    row: Option<DirRow>,
    listed: bool,
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
            out.dirs.push(rel);
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

    #[test]
    fn unchanged_folders_come_from_the_memo_and_give_the_same_digest_as_a_listing() {
        let data = tempfile::tempdir().unwrap();
        let memo = tempfile::tempdir().unwrap();
        let d = data.path();
        for dir in ["sub", "empty", "odd"] {
            std::fs::create_dir(d.join(dir)).unwrap();
        }
        std::fs::write(d.join("a.txt"), b"hello").unwrap();
        std::fs::write(d.join("sub/b.txt"), b"world!").unwrap();
        std::fs::write(d.join("odd/c.txt"), b"c").unwrap();
        std::os::unix::fs::symlink(d.join("sub"), d.join("odd/to-sub")).unwrap();
        let run = || {
            hash_tree(
                d,
                memo.path(),
                Options::default(),
                &|_, _| {},
                &AtomicBool::new(false),
            )
            .unwrap()
        };
        // What a walk without any memo gives.
        let clean = || {
            let fresh = tempfile::tempdir().unwrap();
            let h = hash_tree(
                d,
                fresh.path(),
                Options::default(),
                &|_, _| {},
                &AtomicBool::new(false),
            )
            .unwrap();
            digest_of(&h.entries, &h.hashes)
        };
        let first = run();
        assert_eq!(first.listed_dirs, 4, "nothing known yet");
        // Folders just changed are not trusted; two seconds later they are.
        std::thread::sleep(RACY_WINDOW + Duration::from_millis(100));
        assert_eq!(run().listed_dirs, 4);
        let third = run();
        // `odd` skips a link, so it has no memo row, so neither has its parent.
        assert_eq!(third.listed_dirs, 2, "only `odd` and the root are listed");
        assert_eq!(third.skipped.len(), 1, "what is skipped is still reported");
        assert_eq!(digest_of(&third.entries, &third.hashes), clean());

        // An edit in place changes no folder: the known file's stat sees it.
        std::fs::write(d.join("sub/b.txt"), b"World!").unwrap();
        let edited = run();
        assert_eq!((edited.listed_dirs, edited.hashed_bytes), (2, 6));
        let digest = digest_of(&edited.entries, &edited.hashes);
        assert_ne!(digest, digest_of(&third.entries, &third.hashes));
        assert_eq!(digest, clean());

        // A file in a folder that was empty: that folder is listed again.
        std::fs::write(d.join("empty/new.txt"), b"new").unwrap();
        let added = run();
        // With `sub`: its file, just edited, is not memoized yet.
        assert_eq!(added.listed_dirs, 4);
        assert!(added.entries.iter().any(|e| e.rel == "empty/new.txt"));
        assert_eq!(digest_of(&added.entries, &added.hashes), clean());

        // A file replaced by a folder of the same name.
        std::fs::remove_file(d.join("a.txt")).unwrap();
        std::fs::create_dir(d.join("a.txt")).unwrap();
        std::fs::write(d.join("a.txt/inner"), b"x").unwrap();
        let replaced = run();
        assert!(replaced.entries.iter().any(|e| e.rel == "a.txt/inner"));
        assert!(!replaced.entries.iter().any(|e| e.rel == "a.txt"));
        assert_eq!(digest_of(&replaced.entries, &replaced.hashes), clean());

        // The other walk option lists everything again.
        let hidden = hash_tree(
            d,
            memo.path(),
            Options {
                include_hidden: true,
            },
            &|_, _| {},
            &AtomicBool::new(false),
        )
        .unwrap();
        assert_eq!(hidden.listed_dirs, 5);
    }
}
