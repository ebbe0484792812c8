//! Helpers shared by the integration tests: locate and drive the `amt` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod tiny;

/// The `amt` binary of this build (`scripts/test` builds it before the tests).
pub fn amt_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = dir.join("amt");
    assert!(
        bin.exists(),
        "`{}` not found: build it first with `cargo build -p amt-pipeline --bins` (scripts/test does)",
        bin.display()
    );
    bin
}

/// The shared fixtures folder (`../shared/fixtures` beside the repo, or `$AMT_SHARED/fixtures`).
pub fn fixtures() -> PathBuf {
    let base = std::env::var_os("AMT_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
    let f = base.join("fixtures");
    assert!(
        f.is_dir(),
        "fixtures not found at `{}`; set AMT_SHARED",
        f.display()
    );
    f
}

/// A data home with its own store, in a temp folder, and its own folder of no-op records.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub noop: tempfile::TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    pub fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            noop: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn store(&self) -> PathBuf {
        self.path().join(".amt/store")
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(amt_bin());
        c.arg("--data-home").arg(self.path());
        c.args(args);
        c.env_remove("AMT_STORE")
            .env_remove("AMT_CONFIG")
            .env_remove("RUST_LOG")
            .env_remove("AMT_NOOP_REPLAY")
            .env("AMT_NOOP_DIR", self.noop.path())
            .env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("amt runs")
    }

    /// Runs and asserts success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "amt {args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Writes `rel` (creating folders) with `bytes`.
    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// `amt run --json` and the (stage, dataset) -> outcome map of its report.
    pub fn run_report(&self, extra: &[&str]) -> Vec<(String, String, String)> {
        let mut args = vec!["run", "--json"];
        args.extend_from_slice(extra);
        let out = self.ok(&args);
        outcomes(&out)
    }

    pub fn sql_csv(&self, query: &str) -> String {
        self.ok(&["sql", "--format", "csv", query])
    }
}

pub fn outcomes(report_json: &str) -> Vec<(String, String, String)> {
    let v: serde_json::Value = serde_json::from_str(report_json).expect("run report is JSON");
    let mut out: Vec<(String, String, String)> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["stage"].as_str().unwrap().to_string(),
                e["dataset"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

pub fn t(stage: &str, dataset: &str, outcome: &str) -> (String, String, String) {
    (stage.into(), dataset.into(), outcome.into())
}

/// Every regular, non-hidden file under `dir`, counted independently of amt.
pub fn count_files(dir: &Path) -> (usize, u64) {
    let mut n = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let m = std::fs::metadata(e.path()).unwrap();
        if m.is_dir() {
            let (a, b) = count_files(&e.path());
            n += a;
            bytes += b;
        } else if m.is_file() {
            n += 1;
            bytes += m.len();
        }
    }
    (n, bytes)
}

/// Polls `cond` every 20 ms for at most 30 s.
pub fn wait_for(cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Sends SIGINT (Ctrl-C) to a process.
pub fn interrupt(pid: u32) {
    let ok = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill -INT {pid}");
}

/// A 16-bit PCM WAV file of `samples` (interleaved when `channels` > 1).
pub fn wav(samples: &[f32], rate: u32, channels: u16) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2 * u32::from(channels)).to_le_bytes());
    out.extend_from_slice(&(2 * channels).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
    }
    out
}
