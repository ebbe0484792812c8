//! `amt`, the front binary. It links no libtorch, so it starts in milliseconds where the full
//! binary spends about 0.3 s in libtorch's static initialisers. It answers a command line it
//! holds a still-valid no-op record of (an unchanged `amt run` or `amt stage`: see
//! `amt_cache::noop`) by printing the recorded output, and hands every other command to
//! `amt-full` beside it (same arguments, same process: `exec`).
//!
//! `AMT_NOOP_REPLAY=0` switches the replay off; `AMT_NOOP_REPLAY=explain` says on stderr why a
//! record was not used.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

use amt_cache::noop::{self, NoopRecord};

/// The binary that does the work: `amt-full`, next to this one.
fn full_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("amt"));
    me.with_file_name("amt-full")
}

/// Where this command line's record is (or would be written).
fn record_path(args: &[OsString]) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let terminals = [
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    ];
    Some(noop::record_dir()?.join(noop::record_name(args, &cwd, &env, terminals)))
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let args = argv.get(1..).unwrap_or_default();
    let full = full_binary();
    let mode = std::env::var(noop::SWITCH_ENV).unwrap_or_default();
    let record = if mode == "0" { None } else { record_path(args) };
    if let Some(path) = &record {
        match NoopRecord::load(path).map(|r| (r.check(&full), r)) {
            Some((Ok(()), r)) => {
                // A closed pipe is not an error worth a message.
                let _ = std::io::stdout().write_all(r.stdout.as_bytes());
                let _ = std::io::stderr().write_all(r.stderr.as_bytes());
                return ExitCode::from(r.exit_code);
            }
            Some((Err(why), _)) if mode == "explain" => {
                eprintln!("amt: no-op record not used: {why}")
            }
            None if mode == "explain" => eprintln!("amt: no no-op record for this command"),
            _ => {}
        }
    }
    let mut cmd = Command::new(&full);
    cmd.args(args);
    if let Some(a0) = argv.first() {
        cmd.arg0(a0);
    }
    if let Some(path) = &record {
        cmd.env(noop::RECORD_ENV, path);
    }
    let err = cmd.exec();
    eprintln!(
        "error: cannot start `{}`: {err}\nhint: `amt` hands its commands to `amt-full`, which \
         must sit in the same folder; `cargo build --workspace` (or `-p amt-pipeline --bins`) \
         builds both",
        full.display()
    );
    ExitCode::from(127)
}
