//! No-op records: what a `run` that found everything fresh depended on, so that the same
//! command can be answered again without planning (and without starting libtorch) for as long
//! as none of it changes.
//!
//! The `amt` binary is a small front (`pipeline/src/front.rs`): for a command line it has a
//! record of, it checks the record and, when it still holds, prints the recorded output. Every
//! other command goes to `amt-full`, which writes a record after a run that built nothing.
//! A record holds:
//! - the `amt-full` binary, the config file, the data home, the store's `datasets/` folder,
//!   and every ref and manifest the plan read, each as its `stat` (size, mtime, ctime, inode;
//!   or absent);
//! - every dataset folder the plan fingerprinted, with its digest: the front re-fingerprints
//!   it (one `stat` per file against the memo), so an edit in place is seen;
//! - the output and the exit code.
//!
//! The record's name is a hash of the command line, the working directory, the environment
//! and which standard streams are terminals, so another store, data home or flag never
//! matches it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::fingerprint::{self, Options};

/// Bumped whenever what a record holds or means changes: older records are then ignored.
pub const FORMAT: u32 = 1;

/// Set by the front for `amt-full`: where to write the record of this command line.
pub const RECORD_ENV: &str = "AMT_NOOP_RECORD";

/// Set to `0` to switch the front's replay off (every command then goes to `amt-full`).
pub const SWITCH_ENV: &str = "AMT_NOOP_REPLAY";

/// At most this many records are kept (the oldest go first).
const KEEP: usize = 256;

/// A file modified this recently may change again within the same timestamp tick unseen: a
/// record that watches one is not written (the next no-op run writes it).
const RACY_WINDOW: Duration = Duration::from_secs(2);

/// What `stat` says of a file or folder: any write, rename or replacement changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub inode: u64,
    pub device: u64,
}

impl FileState {
    /// `None` when `path` does not exist (absence is a state too: a config file that appears
    /// changes the plan).
    pub fn of(path: &Path) -> Option<FileState> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileState {
            size: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            inode: m.ino(),
            device: m.dev(),
        })
    }
}

/// A file or folder the plan depended on, as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watched {
    pub path: PathBuf,
    pub state: Option<FileState>,
}

impl Watched {
    pub fn now(path: &Path) -> Watched {
        Watched {
            path: path.to_owned(),
            state: FileState::of(path),
        }
    }
}

/// A folder fingerprint the plan computed (see [`fingerprint::fingerprint_dir`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderDigest {
    pub root: PathBuf,
    pub memo_dir: PathBuf,
    pub include_hidden: bool,
    pub digest: String,
}

static FOLDERS: Mutex<Vec<FolderDigest>> = Mutex::new(Vec::new());

/// Called by `fingerprint_dir`: every folder fingerprinted in this process, for the record.
pub(crate) fn note_folder(d: FolderDigest) {
    if let Ok(mut v) = FOLDERS.lock() {
        v.push(d);
    }
}

/// The folders fingerprinted in this process so far (deduplicated).
pub fn noted_folders() -> Vec<FolderDigest> {
    let mut v = FOLDERS.lock().map(|v| v.clone()).unwrap_or_default();
    v.sort_by(|a, b| a.root.cmp(&b.root).then(a.digest.cmp(&b.digest)));
    v.dedup();
    v
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoopRecord {
    pub format: u32,
    /// The binary that planned (`amt-full`): a rebuild may plan differently.
    pub program: Watched,
    pub files: Vec<Watched>,
    pub folders: Vec<FolderDigest>,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: u8,
}

impl NoopRecord {
    /// Why the record no longer holds (the first difference found), or `Ok` when it does.
    pub fn check(&self, program: &Path) -> std::result::Result<(), String> {
        if self.format != FORMAT {
            return Err(format!("record format {} (this is {FORMAT})", self.format));
        }
        if self.program.path != program || FileState::of(program) != self.program.state {
            return Err(format!("`{}` changed", program.display()));
        }
        for w in &self.files {
            if FileState::of(&w.path) != w.state {
                return Err(format!("`{}` changed", w.path.display()));
            }
        }
        let cancel = std::sync::atomic::AtomicBool::new(false);
        for f in &self.folders {
            let opts = Options {
                include_hidden: f.include_hidden,
            };
            match fingerprint::folder_digest(&f.root, &f.memo_dir, opts, &cancel) {
                Ok(d) if d == f.digest => {}
                Ok(_) => return Err(format!("files under `{}` changed", f.root.display())),
                Err(e) => return Err(format!("`{}`: {e}", f.root.display())),
            }
        }
        Ok(())
    }

    /// Whether every watched file is old enough for its `stat` to be trusted.
    pub fn settled(&self) -> bool {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let window = RACY_WINDOW.as_nanos() as i128;
        std::iter::once(&self.program)
            .chain(&self.files)
            .filter_map(|w| w.state)
            .all(|s| now - s.mtime_ns.max(s.ctime_ns) >= window)
    }

    /// The record at `path`; `None` when absent, unreadable or of another format.
    pub fn load(path: &Path) -> Option<NoopRecord> {
        let bytes = std::fs::read(path).ok()?;
        serde_json::from_slice::<NoopRecord>(&bytes)
            .ok()
            .filter(|r| r.format == FORMAT)
    }

    /// Publishes the record atomically, then drops the oldest records beyond the first 256.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_vec(self).expect("record serializes");
        crate::atomic::write_file(path, &json)?;
        if let Some(dir) = path.parent() {
            prune(dir);
        }
        Ok(())
    }
}

fn prune(dir: &Path) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut records: Vec<(SystemTime, PathBuf)> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().as_bytes().ends_with(b".json"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if records.len() <= KEEP {
        return;
    }
    records.sort();
    for (_, p) in &records[..records.len() - KEEP] {
        let _ = std::fs::remove_file(p);
    }
}

/// Environment variables that differ between two shells running the same command, or only
/// steer the records themselves.
const VOLATILE_ENV: [&str; 7] = [
    "_",
    "OLDPWD",
    "PWD",
    "SHLVL",
    RECORD_ENV,
    SWITCH_ENV,
    "AMT_NOOP_DIR",
];

/// The record file name for a command line: a hash of everything the command sees besides
/// the files (arguments, working directory, environment, which streams are terminals).
pub fn record_name(
    argv: &[OsString],
    cwd: &Path,
    env: &[(OsString, OsString)],
    terminals: [bool; 3],
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(format!("amt-noop-record-v{FORMAT}\0").as_bytes());
    for a in argv {
        h.update(a.as_bytes());
        h.update(b"\0");
    }
    h.update(b"\x01");
    h.update(cwd.as_os_str().as_bytes());
    h.update(b"\x01");
    let mut env: Vec<&(OsString, OsString)> = env
        .iter()
        .filter(|(k, _)| !VOLATILE_ENV.iter().any(|v| k.as_bytes() == v.as_bytes()))
        .collect();
    env.sort();
    for (k, v) in env {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b"\0");
    }
    h.update(&terminals.map(u8::from));
    format!("{}.json", &h.finalize().to_hex()[..32])
}

/// Where records live: `$AMT_NOOP_DIR`, else `$XDG_CACHE_HOME/amt/noop`, else
/// `~/.cache/amt/noop`; `None` when none can be named.
pub fn record_dir() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = var("AMT_NOOP_DIR") {
        return Some(PathBuf::from(d));
    }
    if let Some(x) = var("XDG_CACHE_HOME") {
        return Some(PathBuf::from(x).join("amt").join("noop"));
    }
    var("HOME").map(|h| PathBuf::from(h).join(".cache").join("amt").join("noop"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(dir: &Path, files: Vec<Watched>, folders: Vec<FolderDigest>) -> NoopRecord {
        let program = dir.join("program");
        std::fs::write(&program, b"bin").unwrap();
        NoopRecord {
            format: FORMAT,
            program: Watched::now(&program),
            files,
            folders,
            stdout: String::new(),
            stderr: "done\n".into(),
            exit_code: 0,
        }
    }

    #[test]
    fn a_record_holds_until_a_watched_file_or_folder_changes() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("data");
        std::fs::create_dir_all(data.join("a")).unwrap();
        std::fs::write(data.join("a/x.txt"), b"one").unwrap();
        let config = t.path().join("amt.toml");
        let memo = t.path().join("memo");
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let digest = fingerprint::folder_digest(&data, &memo, Options::default(), &cancel).unwrap();
        let r = record(
            t.path(),
            vec![Watched::now(&config)],
            vec![FolderDigest {
                root: data.clone(),
                memo_dir: memo,
                include_hidden: false,
                digest,
            }],
        );
        let program = t.path().join("program");
        r.check(&program).unwrap();

        // The same size and content class, edited in place: the folder digest sees it.
        std::fs::write(data.join("a/x.txt"), b"two").unwrap();
        assert!(r.check(&program).unwrap_err().contains("changed"));
        std::fs::write(data.join("a/x.txt"), b"one").unwrap();
        r.check(&program).unwrap();

        // A config file that appears (it was absent).
        std::fs::write(&config, b"[stage.notes]\n").unwrap();
        assert!(r.check(&program).unwrap_err().contains("amt.toml"));
        std::fs::remove_file(&config).unwrap();
        r.check(&program).unwrap();

        // Another binary.
        std::fs::write(&program, b"bin2").unwrap();
        assert!(r.check(&program).unwrap_err().contains("program"));
    }

    #[test]
    fn record_names_differ_by_argument_directory_environment_and_terminal() {
        let argv = |s: &[&str]| s.iter().map(OsString::from).collect::<Vec<_>>();
        let env = |s: &[(&str, &str)]| {
            s.iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect::<Vec<_>>()
        };
        let base = record_name(
            &argv(&["run", "-d", "a"]),
            Path::new("/x"),
            &env(&[("HOME", "/h")]),
            [false; 3],
        );
        let same_but_volatile = record_name(
            &argv(&["run", "-d", "a"]),
            Path::new("/x"),
            &env(&[("SHLVL", "3"), ("HOME", "/h"), ("OLDPWD", "/y")]),
            [false; 3],
        );
        assert_eq!(base, same_but_volatile);
        for other in [
            record_name(
                &argv(&["run", "-d", "b"]),
                Path::new("/x"),
                &env(&[("HOME", "/h")]),
                [false; 3],
            ),
            record_name(
                &argv(&["run", "-d", "a"]),
                Path::new("/y"),
                &env(&[("HOME", "/h")]),
                [false; 3],
            ),
            record_name(
                &argv(&["run", "-d", "a"]),
                Path::new("/x"),
                &env(&[("HOME", "/h"), ("AMT_STORE", "/s")]),
                [false; 3],
            ),
            record_name(
                &argv(&["run", "-d", "a"]),
                Path::new("/x"),
                &env(&[("HOME", "/h")]),
                [false, false, true],
            ),
        ] {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn records_are_pruned_to_the_newest() {
        let t = tempfile::tempdir().unwrap();
        let r = record(t.path(), Vec::new(), Vec::new());
        let dir = t.path().join("noop");
        for i in 0..KEEP + 3 {
            r.save(&dir.join(format!("{i:04}.json"))).unwrap();
        }
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), KEEP);
        assert!(NoopRecord::load(&dir.join(format!("{:04}.json", KEEP + 2))).is_some());
    }
}
