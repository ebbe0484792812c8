//! File locks (flock). Readers of the store take none: artifacts are immutable and refs are
//! replaced atomically. Writers lock one (stage, slot) at a time, so builds of different
//! datasets run side by side from several processes; a second writer of the same slot waits,
//! or fails at once (`wait = false`) naming the pid that holds it. The OS drops a lock when its
//! holder dies, so a kill -9 never leaves anything locked.
//!
//! The same primitive marks liveness elsewhere: the owner of a temporary folder, a pin and a
//! run each hold a lock for as long as they live; whoever finds the lock free knows the owner
//! is gone.

use std::fs::TryLockError;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: std::fs::File,
    path: PathBuf,
}

fn io_at(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{e} (lock file `{}`)", path.display()),
    ))
}

fn open(path: &Path) -> Result<std::fs::File> {
    if let Some(dir) = path.parent() {
        fs_err::create_dir_all(dir)?;
    }
    Ok(fs_err::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?
        .into_parts()
        .0)
}

impl FileLock {
    /// Locks `path` (created if needed) exclusively. `what` names the thing locked in the
    /// messages (`notes for slakh`). Without `wait`, a held lock is an [`Error::Locked`].
    pub fn exclusive(path: &Path, what: &str, wait: bool) -> Result<FileLock> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder_description(path);
                if !wait {
                    return Err(Error::Locked {
                        what: what.to_string(),
                        path: path.to_owned(),
                        holder,
                    });
                }
                tracing::warn!("waiting for {what}, which another amt process is writing{holder}");
                file.lock().map_err(|e| io_at(path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(io_at(path, e)),
        }
        let mut lock = FileLock {
            file,
            path: path.to_owned(),
        };
        lock.record_pid()?;
        Ok(lock)
    }

    /// Locks `path` if nobody holds it; `None` when another process (or another open file of
    /// this one) does.
    pub fn try_exclusive(path: &Path) -> Result<Option<FileLock>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(FileLock {
                file,
                path: path.to_owned(),
            })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(io_at(path, e)),
        }
    }

    /// Takes over an already open and locked file (pins lock their own file).
    pub(crate) fn from_locked(file: std::fs::File, path: PathBuf) -> FileLock {
        FileLock { file, path }
    }

    fn record_pid(&mut self) -> Result<()> {
        let path = self.path.clone();
        let f = &mut self.file;
        f.set_len(0).map_err(|e| io_at(&path, e))?;
        f.seek(SeekFrom::Start(0)).map_err(|e| io_at(&path, e))?;
        write!(f, "{}", std::process::id()).map_err(|e| io_at(&path, e))?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether some process holds the lock on `path` now. A missing file is not held.
pub fn is_held(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock))
}

/// The pid the last holder wrote into the lock file, if any.
pub fn recorded_holder(path: &Path) -> Option<u32> {
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    s.trim().parse().ok()
}

fn holder_description(path: &Path) -> String {
    match recorded_holder(path) {
        Some(pid) => format!(" (pid {pid})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_fails_without_wait_naming_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b.lock");
        let first = FileLock::exclusive(&p, "b for a", false).unwrap();
        let err = FileLock::exclusive(&p, "b for a", false).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("b for a") && msg.contains(&std::process::id().to_string()),
            "{msg}"
        );
        assert!(is_held(&p));
        assert!(FileLock::try_exclusive(&p).unwrap().is_none());
        drop(first);
        assert!(!is_held(&p));
        assert!(FileLock::try_exclusive(&p).unwrap().is_some());
    }
}
