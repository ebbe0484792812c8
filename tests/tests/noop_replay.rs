//! The front binary `amt` answers an unchanged `run` from its no-op record without starting
//! `amt-full` (nor libtorch); anything that could change the plan sends the command to
//! `amt-full` again.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Home, amt_bin, fixtures, outcomes, t};

fn records(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// (inode, mtime) of a file: a rewritten record (atomically replaced) changes both.
fn identity(p: &Path) -> (u64, i64, i64) {
    let m = std::fs::metadata(p).unwrap();
    (m.ino(), m.mtime(), m.mtime_nsec())
}

/// A copy of the slakh fixture at `<home>/<name>`.
fn slakh_copy(home: &Home, name: &str) -> PathBuf {
    let data = home.path().join(name);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(fixtures().join("slakh"))
        .arg(&data)
        .status()
        .unwrap();
    assert!(status.success());
    data
}

/// Runs `args` with `AMT_NOOP_REPLAY=explain`: (success, stderr).
fn explained(home: &Home, args: &[&str]) -> (bool, String) {
    let out = home
        .cmd(args)
        .env("AMT_NOOP_REPLAY", "explain")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stderr).unwrap())
}

/// Records are written only once everything they watch is 2 s old (same-tick edits).
fn settle() {
    std::thread::sleep(Duration::from_millis(2100));
}

#[test]
fn an_unchanged_run_is_replayed_and_an_edit_in_place_is_rebuilt() {
    let home = Home::new();
    let data = slakh_copy(&home, "slakh");
    let args = ["run", "-d", "slakh", "--until", "notes"];
    home.ok(&args);
    settle();

    // A run that builds nothing, through `amt-full`: it leaves a record.
    let second = home.run(&args);
    assert!(second.status.success());
    let second_err = String::from_utf8(second.stderr).unwrap();
    assert!(second_err.contains("0 built, 2 up to date"), "{second_err}");
    let recs = records(home.noop.path());
    assert_eq!(recs.len(), 1, "one record for the one command line");
    let before = identity(&recs[0]);

    // The same command again: the same output, and the record was not rewritten (so
    // `amt-full`, which rewrites it after every run that builds nothing, did not run).
    let (ok, third_err) = explained(&home, &args);
    assert!(ok);
    assert_eq!(third_err, second_err);
    assert_eq!(identity(&recs[0]), before);

    // Another command line has no record yet.
    let (_, json_err) = explained(&home, &["run", "-d", "slakh", "--until", "notes", "--json"]);
    assert!(json_err.contains("no no-op record"), "{json_err}");

    // A byte of one MIDI file, edited in place: no folder changes, the plan must see it.
    let midi = walk_files(&data)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "mid"))
        .expect("a MIDI file in the fixture");
    let mut bytes = std::fs::read(&midi).unwrap();
    let last = bytes.len() - 5;
    bytes[last] ^= 1;
    std::fs::write(&midi, &bytes).unwrap();
    let (_, err) = explained(&home, &args);
    assert!(
        err.contains("no-op record not used: files under") && err.contains("slakh"),
        "{err}"
    );
    assert!(err.contains("notes slakh: built"), "{err}");

    // The report of the rebuilt tree equals that of an identical command with replay off.
    let off = home
        .cmd(&["run", "-d", "slakh", "--until", "notes", "--json"])
        .env("AMT_NOOP_REPLAY", "0")
        .output()
        .unwrap();
    assert_eq!(
        outcomes(&String::from_utf8(off.stdout).unwrap()),
        vec![t("extract", "slakh", "fresh"), t("notes", "slakh", "fresh")]
    );
}

#[test]
fn a_dataset_given_as_a_path_is_replayed_too() {
    let home = Home::new();
    let data = slakh_copy(&home, "slakh-copy");
    let path = data.to_str().unwrap();
    let args = ["run", "-d", path, "--until", "extract"];
    home.ok(&args);
    settle();
    // Planning again leaves the store's note of the folder as it was, so a record is written.
    home.ok(&args);
    let recs = records(home.noop.path());
    assert_eq!(recs.len(), 1);
    let before = identity(&recs[0]);
    let (ok, err) = explained(&home, &args);
    assert!(ok);
    assert!(!err.contains("no-op record not used"), "{err}");
    assert_eq!(identity(&recs[0]), before, "replayed, not rewritten");
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Whether `needle` occurs in the first 8 MiB of `path` (where an ELF file's dynamic string
/// table, naming the shared libraries it needs, lies).
fn head_contains(path: &Path, needle: &[u8]) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .take(8 << 20)
        .read_to_end(&mut head)
        .unwrap();
    head.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_front_binary_does_not_link_libtorch() {
    let front = amt_bin();
    let full = front.with_file_name("amt-full");
    assert!(head_contains(&full, b"libtorch_cpu.so"), "the control");
    assert!(!head_contains(&front, b"libtorch_cpu.so"));
    assert!(!head_contains(&front, b"libc10.so"));
}

#[test]
fn the_front_hands_other_commands_to_the_full_binary() {
    let home = Home::new();
    // `--version` and an unknown flag are answered by `amt-full`'s command-line parser, under
    // the name `amt`.
    let v = home.ok(&["--version"]);
    assert!(v.starts_with("amt "), "{v}");
    let bad = home.run(&["run", "--no-such-flag"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8(bad.stderr).unwrap();
    assert!(err.contains("Usage: amt"), "{err}");
}
