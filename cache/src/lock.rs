//! One lock per store. Writers (`amt run`, `cache verify`, `cache gc`) hold it exclusively,
//! readers (`sql`, `status`) shared. A second writer waits, saying who holds the lock, or fails
//! at once with `wait = false`. The OS releases the lock when its holder dies, so a kill -9
//! never leaves the store locked.

use std::fs::TryLockError;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

pub const FILE_NAME: &str = "lock";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Shared,
    Exclusive,
}

/// Held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl StoreLock {
    pub fn acquire(root: &Path, mode: Mode, wait: bool) -> Result<StoreLock> {
        fs_err::create_dir_all(root)?;
        let path = root.join(FILE_NAME);
        let mut file = fs_err::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?
            .into_parts()
            .0;
        let attempt = match mode {
            Mode::Shared => file.try_lock_shared(),
            Mode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder_description(&path);
                if !wait {
                    return Err(Error::Locked { path, holder });
                }
                tracing::warn!("waiting for the store lock `{}`{holder}", path.display());
                match mode {
                    Mode::Shared => file.lock_shared(),
                    Mode::Exclusive => file.lock(),
                }
                .map_err(|e| io_at(&path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(io_at(&path, e)),
        }
        if mode == Mode::Exclusive {
            // Record the holder for the messages of processes that wait.
            file.set_len(0).map_err(|e| io_at(&path, e))?;
            file.seek(SeekFrom::Start(0)).map_err(|e| io_at(&path, e))?;
            write!(file, "{}", std::process::id()).map_err(|e| io_at(&path, e))?;
        }
        Ok(StoreLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn io_at(path: &Path, e: std::io::Error) -> Error {
    Error::Io(std::io::Error::new(
        e.kind(),
        format!("{e} (lock file `{}`)", path.display()),
    ))
}

/// The pid written by the last exclusive holder, if any.
pub fn recorded_holder(root: &Path) -> Option<u32> {
    let mut s = String::new();
    std::fs::File::open(root.join(FILE_NAME))
        .ok()?
        .read_to_string(&mut s)
        .ok()?;
    s.trim().parse().ok()
}

/// Whether some process holds the lock now (probed with a non-blocking shared lock).
pub fn is_held_exclusively(root: &Path) -> bool {
    let Ok(f) = std::fs::File::open(root.join(FILE_NAME)) else {
        return false;
    };
    matches!(f.try_lock_shared(), Err(TryLockError::WouldBlock))
}

fn holder_description(path: &Path) -> String {
    let root = path.parent().unwrap_or(Path::new("."));
    match recorded_holder(root) {
        Some(pid) => format!(" (held by pid {pid})"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_exclusive_fails_without_wait_and_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let first = StoreLock::acquire(dir.path(), Mode::Exclusive, false).unwrap();
        let err = StoreLock::acquire(dir.path(), Mode::Exclusive, false).unwrap_err();
        assert!(matches!(err, Error::Locked { .. }), "{err}");
        assert!(err.to_string().contains(&std::process::id().to_string()));
        assert!(is_held_exclusively(dir.path()));
        drop(first);
        assert!(!is_held_exclusively(dir.path()));
        StoreLock::acquire(dir.path(), Mode::Exclusive, false).unwrap();
    }

    #[test]
    fn shared_locks_coexist_but_exclude_writers() {
        let dir = tempfile::tempdir().unwrap();
        let _a = StoreLock::acquire(dir.path(), Mode::Shared, false).unwrap();
        let _b = StoreLock::acquire(dir.path(), Mode::Shared, false).unwrap();
        assert!(StoreLock::acquire(dir.path(), Mode::Exclusive, false).is_err());
    }
}
