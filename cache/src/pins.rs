//! Pins and runs: what `gc` and `verify` must never delete.
//!
//! - A **process pin** (`pins/<pid>-<n>.json`) names the artifacts a live process reads (an
//!   `amt sql` query, a training rank). The process holds a lock on the file for as long as it
//!   lives; a pin whose lock is free belongs to a dead process and is ignored (and removed by
//!   `gc`). Pins die with their process: nothing to release by hand after a kill -9.
//! - A **run** (`runs/<id>/`) is long-lived, resumable work (training). It records the keys of
//!   its inputs in `pins.json`, which pin them for as long as the run folder exists, whether a
//!   process works on it or not. The run's own state lives in its folder, written atomically,
//!   and a process working on the run holds `runs/<id>/run.lock` (its only lock).

use std::fs::TryLockError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::lock::FileLock;
use crate::slot::valid_component;
use crate::{Error, Key, Result, Slot, Store, atomic};

/// One pinned artifact.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Pin {
    pub stage: String,
    pub slot: Slot,
    pub key: Key,
}

/// Held while a process reads pinned artifacts; dropping it (or dying) releases the pin.
#[derive(Debug)]
pub struct PinGuard {
    path: PathBuf,
    _lock: FileLock,
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Store {
    fn pins_dir(&self) -> PathBuf {
        self.root().join("pins")
    }

    /// Pins `pins` for the life of the returned guard (or of this process).
    pub fn pin(&self, pins: &[Pin]) -> Result<PinGuard> {
        let dir = self.pins_dir();
        let tmp = atomic::unique_temp_name(&dir, "pin");
        let mut file = fs_err::File::create(&tmp)?.into_parts().0;
        // Lock before the file has its final name: a `gc` never sees an unlocked live pin.
        file.lock().map_err(Error::Io)?;
        file.write_all(&serde_json::to_vec(pins).expect("pins serialize"))?;
        file.sync_all()?;
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{}-{n}.json", std::process::id()));
        fs_err::rename(&tmp, &path)?;
        Ok(PinGuard {
            _lock: FileLock::from_locked(file, path.clone()),
            path,
        })
    }

    /// The current artifact of (stage, slot), pinned for as long as the guard lives, so that
    /// a `gc` running meanwhile keeps it. Readers take no lock: if the artifact vanished
    /// between reading the ref and pinning it (a `gc` raced), the ref is read again.
    pub fn current_pinned(
        &self,
        stage: &str,
        slot: &Slot,
    ) -> Result<Option<(crate::Artifact, PinGuard)>> {
        for _ in 0..3 {
            let Some(key) = self.read_ref(stage, slot)? else {
                return Ok(None);
            };
            let guard = self.pin(&[Pin {
                stage: stage.to_string(),
                slot: slot.clone(),
                key: key.clone(),
            }])?;
            if let Some(a) = self.get(stage, slot, &key)? {
                return Ok(Some((a, guard)));
            }
        }
        Ok(None)
    }

    /// Pins of live processes; pin files of dead ones are removed when `clean` is set.
    pub fn live_pins(&self, clean: bool) -> Result<Vec<Pin>> {
        let dir = self.pins_dir();
        let mut out = Vec::new();
        for name in crate::store::sorted_dir_names(&dir)? {
            if !name.ends_with(".json") {
                continue;
            }
            let path = dir.join(&name);
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            match file.try_lock_shared() {
                Err(TryLockError::WouldBlock) => {
                    if let Ok(bytes) = std::fs::read(&path)
                        && let Ok(pins) = serde_json::from_slice::<Vec<Pin>>(&bytes)
                    {
                        out.extend(pins);
                    }
                }
                _ => {
                    if clean {
                        let _ = std::fs::remove_file(&path);
                    }
                }
            }
        }
        Ok(out)
    }

    fn runs_dir(&self) -> PathBuf {
        self.root().join("runs")
    }

    /// Opens (creating) run `id` and locks it for this process. A second process working on
    /// the same run waits, or fails at once without `wait`, naming the pid.
    pub fn open_run(&self, id: &str, wait: bool) -> Result<Run> {
        if !valid_component(id) {
            return Err(Error::Run {
                id: id.to_string(),
                reason: "use letters, digits, `_`, `-` and `.` in run ids".into(),
            });
        }
        let dir = self.runs_dir().join(id);
        fs_err::create_dir_all(&dir)?;
        let lock = FileLock::exclusive(&dir.join("run.lock"), &format!("run `{id}`"), wait)?;
        Ok(Run {
            id: id.to_string(),
            dir,
            _lock: lock,
        })
    }

    /// The folder of run `id` (whether it exists or not).
    pub fn run_dir(&self, id: &str) -> PathBuf {
        self.runs_dir().join(id)
    }

    /// The ids of every run.
    pub fn runs(&self) -> Result<Vec<String>> {
        crate::store::sorted_dir_names(&self.runs_dir())
    }

    /// The inputs run `id` pinned (without locking it: DDP ranks read them while rank 0 holds
    /// the run).
    pub fn run_pins(&self, id: &str) -> Result<Option<Vec<Pin>>> {
        read_pins(&self.runs_dir().join(id).join(RUN_PINS))
    }

    /// Everything that must survive `gc`: live process pins and every run's pins.
    pub fn all_pins(&self, clean: bool) -> Result<Vec<Pin>> {
        let mut out = self.live_pins(clean)?;
        for id in self.runs()? {
            out.extend(self.run_pins(&id)?.unwrap_or_default());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

const RUN_PINS: &str = "pins.json";

fn read_pins(path: &Path) -> Result<Option<Vec<Pin>>> {
    match fs_err::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Run {
                id: path.display().to_string(),
                reason: format!("its pins cannot be read: {e}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A run opened (and locked) by this process.
#[derive(Debug)]
pub struct Run {
    pub id: String,
    pub dir: PathBuf,
    _lock: FileLock,
}

impl Run {
    /// The inputs pinned when the run started.
    pub fn pins(&self) -> Result<Option<Vec<Pin>>> {
        read_pins(&self.dir.join(RUN_PINS))
    }

    /// Pins `pins` as the run's inputs (replacing earlier pins).
    pub fn set_pins(&self, pins: &[Pin]) -> Result<()> {
        let mut pins = pins.to_vec();
        pins.sort();
        atomic::write_file(
            &self.dir.join(RUN_PINS),
            &serde_json::to_vec_pretty(&pins).expect("pins serialize"),
        )
    }

    /// Compares the pinned inputs with the current ones; each difference as a sentence
    /// (empty when they match).
    pub fn changes(pinned: &[Pin], current: &[Pin]) -> Vec<String> {
        let mut out = Vec::new();
        for p in pinned {
            match current
                .iter()
                .find(|c| c.stage == p.stage && c.slot == p.slot)
            {
                None => out.push(format!(
                    "`{}` of `{}` is no longer an input",
                    p.stage, p.slot
                )),
                Some(c) if c.key != p.key => out.push(format!(
                    "`{}` of `{}` changed: {} -> {}",
                    p.stage,
                    p.slot,
                    p.key.short(),
                    c.key.short()
                )),
                Some(_) => {}
            }
        }
        for c in current {
            if !pinned
                .iter()
                .any(|p| p.stage == c.stage && p.slot == c.slot)
            {
                out.push(format!("`{}` of `{}` is a new input", c.stage, c.slot));
            }
        }
        out
    }

    /// A file of the run's state, written atomically.
    pub fn write_state(&self, name: &str, bytes: &[u8]) -> Result<()> {
        atomic::write_file(&self.dir.join(name), bytes)
    }

    pub fn read_state(&self, name: &str) -> Result<Option<Vec<u8>>> {
        match fs_err::read(self.dir.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeySpec;
    use std::collections::BTreeMap;

    fn key(n: u32) -> Key {
        KeySpec {
            stage: "s".into(),
            version: n,
            config: serde_json::json!({}),
            inputs: BTreeMap::new(),
        }
        .key()
    }

    fn pin(n: u32) -> Pin {
        Pin {
            stage: "s".into(),
            slot: Slot::dataset("d"),
            key: key(n),
        }
    }

    #[test]
    fn process_pins_live_as_long_as_their_guard() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let guard = store.pin(&[pin(1)]).unwrap();
        assert_eq!(store.live_pins(true).unwrap(), vec![pin(1)]);
        drop(guard);
        assert!(store.live_pins(true).unwrap().is_empty());
    }

    #[test]
    fn run_pins_persist_and_changes_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        {
            let run = store.open_run("exp1", false).unwrap();
            let err = store.open_run("exp1", false).unwrap_err().to_string();
            assert!(err.contains("run `exp1`"), "{err}");
            run.set_pins(&[pin(1)]).unwrap();
        }
        assert_eq!(store.all_pins(true).unwrap(), vec![pin(1)]);
        assert_eq!(store.run_pins("exp1").unwrap(), Some(vec![pin(1)]));
        let changes = Run::changes(&[pin(1)], &[pin(2)]);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].contains("`s` of `d` changed"), "{changes:?}");
        assert!(Run::changes(&[pin(1)], &[pin(1)]).is_empty());
        assert!(store.open_run("../x", false).is_err());
    }
}
