//! The store for long work: a track-grained stage killed midway resumes with only the missing
//! parts, one changed track recomputes one part, incremental builds equal clean builds,
//! variants keep their own refs through `gc`, pins keep what runs and readers use, and writers
//! of different slots run side by side while a second writer of one slot waits.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use amt_cache::{Artifact, Pin, Slot, Store};
use amt_tests::{SLEEP_ENV, plan_parts, run_parts};
use common::{Home, t, wait_for};

const UNITS: usize = 50;

fn units(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..UNITS {
        std::fs::write(dir.join(format!("u{i:02}.txt")), format!("content {i}")).unwrap();
    }
}

fn current(store: &Path, slot: &Slot) -> Artifact {
    Store::open(store)
        .unwrap()
        .current_of("parts", slot)
        .unwrap()
        .expect("built")
}

/// (path, size, blake3) of every file, and (part, digest): what makes two builds equal.
type Contents = (Vec<(String, u64, String)>, Vec<(String, String)>);

fn contents(a: &Artifact) -> Contents {
    let mut files: Vec<_> = a
        .manifest
        .files
        .iter()
        .map(|f| (f.path.clone(), f.size, f.blake3.clone()))
        .collect();
    files.sort();
    let parts = a
        .manifest
        .parts
        .iter()
        .map(|(k, p)| (k.clone(), p.digest.clone()))
        .collect();
    (files, parts)
}

fn counts(a: &Artifact) -> (u64, u64, u64) {
    let p = &a.manifest.summary["parts"];
    (
        p["computed"].as_u64().unwrap(),
        p["reused"].as_u64().unwrap(),
        p["resumed"].as_u64().unwrap(),
    )
}

fn finished_parts(store: &Path) -> usize {
    let mut n = 0;
    let mut stack = vec![store.join("partial")];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            // A part is built in a hidden temporary folder and renamed when whole: one killed
            // between writing its record and the rename is not finished.
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if p.is_dir() && !hidden {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "part.json") {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn a_killed_build_resumes_with_only_the_missing_parts_and_equals_a_clean_build() {
    let dir = tempfile::tempdir().unwrap();
    let (store, data) = (dir.path().join("store"), dir.path().join("data"));
    units(&data);
    let mut child = Command::new(env!("CARGO_BIN_EXE_parts-child"))
        .arg(&store)
        .arg(&data)
        .env(SLEEP_ENV, "40")
        .env("RAYON_NUM_THREADS", "1")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| finished_parts(&store) >= 30);
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = finished_parts(&store);
    assert!((30..UNITS).contains(&finished), "{finished}");

    // The rerun computes only the missing parts (counted by the stage itself).
    let report = run_parts(&store, &data, "");
    assert!(!report.failed(), "{report:?}");
    let a = current(&store, &Slot::dataset("ds"));
    assert_eq!(counts(&a), ((UNITS - finished) as u64, 0, finished as u64));
    assert_eq!(
        finished_parts(&store),
        0,
        "the part area is gone once published"
    );
    assert_eq!(a.manifest.parts.len(), UNITS);
    assert_eq!(a.manifest.table_rows()["files"], 3 * UNITS as u64);

    // A clean build in another store: same key, same files, same parts.
    let clean_store = dir.path().join("clean");
    assert!(!run_parts(&clean_store, &data, "").failed());
    let clean = current(&clean_store, &Slot::dataset("ds"));
    assert_eq!(clean.manifest.key, a.manifest.key);
    assert_eq!(contents(&clean), contents(&a));
    assert_eq!(counts(&clean), (UNITS as u64, 0, 0));
    assert!(Store::open(&store).unwrap().verify(&a).is_empty());
}

#[test]
fn one_changed_track_recomputes_one_part() {
    let dir = tempfile::tempdir().unwrap();
    let (store, data) = (dir.path().join("store"), dir.path().join("data"));
    units(&data);
    assert!(!run_parts(&store, &data, "").failed());
    let before = current(&store, &Slot::dataset("ds"));
    std::fs::write(data.join("u07.txt"), "changed").unwrap();
    // Status says which track changed, and which of its files.
    let plan = plan_parts(&store, &data);
    assert_eq!(format!("{:?}", plan.state), "Stale");
    assert_eq!(
        plan.why[0],
        "1 of 50 track(s) changed: u07 (u07.txt modified)"
    );
    assert!(!run_parts(&store, &data, "").failed());
    let after = current(&store, &Slot::dataset("ds"));
    assert_ne!(after.manifest.key, before.manifest.key);
    assert_eq!(counts(&after), (1, (UNITS - 1) as u64, 0));
    let changed: Vec<&String> = after
        .manifest
        .parts
        .iter()
        .filter(|(k, p)| before.manifest.parts[*k].digest != p.digest)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(changed, vec!["u07"]);
    // Reused parts are hard links of the previous artifact's files, not copies.
    let prev = before
        .dir
        .join(&before.manifest.parts["u01"].dir)
        .join("files.parquet");
    let now = after
        .dir
        .join(&after.manifest.parts["u01"].dir)
        .join("files.parquet");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(prev).unwrap().ino(),
        std::fs::metadata(now).unwrap().ino()
    );
    // Equal to a clean build of the changed data.
    let clean_store = dir.path().join("clean");
    assert!(!run_parts(&clean_store, &data, "").failed());
    assert_eq!(
        contents(&current(&clean_store, &Slot::dataset("ds"))),
        contents(&after)
    );
}

fn amt(store: &Path, args: &[&str]) -> std::process::Output {
    let home = store.parent().unwrap().join("home");
    Command::new(common::amt_bin())
        .arg("--data-home")
        .arg(&home)
        .arg("--store")
        .arg(store)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

#[test]
fn variants_keep_their_own_refs_and_both_survive_gc() {
    let dir = tempfile::tempdir().unwrap();
    let (store, data) = (dir.path().join("store"), dir.path().join("data"));
    units(&data);
    for v in ["melspec", "spec"] {
        let cfg = format!("[stage.parts]\nvariant = \"{v}\"\n");
        assert!(!run_parts(&store, &data, &cfg).failed());
    }
    let mel = current(&store, &Slot::variant("ds", "melspec"));
    let spec = current(&store, &Slot::variant("ds", "spec"));
    assert_ne!(mel.manifest.key, spec.manifest.key);
    let out = amt(&store, &["cache", "gc"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(mel.dir.is_dir() && spec.dir.is_dir());
    // Variant slots are never listed as datasets.
    let s = Store::open(&store).unwrap();
    assert!(s.refs().unwrap().iter().all(|r| !r.slot.is_dataset()));
}

#[test]
fn gc_keeps_what_a_run_or_a_live_reader_pins() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.ok(&["run", "--datasets", "alpha"]);
    let store = Store::open(&h.store()).unwrap();
    let slot = Slot::dataset("alpha");
    let first = store.current_of("extract", &slot).unwrap().unwrap();
    let pin = |a: &Artifact| Pin {
        stage: "extract".into(),
        slot: slot.clone(),
        key: a.manifest.key.clone(),
    };
    // A run pins the first artifact (and lets go of its lock: runs pin while they exist).
    store
        .open_run("exp1", false)
        .unwrap()
        .set_pins(&[pin(&first)])
        .unwrap();
    h.write("alpha/a.txt", b"two");
    h.ok(&["run", "--datasets", "alpha"]);
    let second = store.current_of("extract", &slot).unwrap().unwrap();
    // A live reader (this process) pins the second one; the data changes once more.
    let guard = store.pin(&[pin(&second)]).unwrap();
    h.write("alpha/a.txt", b"three");
    h.ok(&["run", "--datasets", "alpha"]);
    h.ok(&["cache", "gc"]);
    assert!(first.dir.is_dir(), "pinned by a run");
    assert!(second.dir.is_dir(), "pinned by a live reader");
    drop(guard);
    std::fs::remove_dir_all(h.store().join("runs/exp1")).unwrap();
    let out = h.ok(&["cache", "gc"]);
    assert!(out.contains("removed 2 artifact(s)"), "{out}");
    assert!(!first.dir.exists() && !second.dir.exists());
}

#[test]
fn two_datasets_build_at_once_and_one_slot_has_one_writer() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.write("beta/b.txt", b"two");
    let spawn = |ds: &str, marker: &PathBuf| {
        h.cmd(&["run", "--json", "--datasets", ds])
            .env("AMT_TEST_PAUSE_BEFORE_PUBLISH", marker)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let (ma, mb) = (h.path().join("pa"), h.path().join("pb"));
    let a = spawn("alpha", &ma);
    let b = spawn("beta", &mb);
    // Both are about to publish at the same time: two processes write two slots.
    wait_for(|| ma.exists() && mb.exists());
    // A second writer of alpha waits for the first.
    let waiting = h
        .cmd(&["run", "--json", "--datasets", "alpha"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let started = Instant::now();
    std::fs::remove_file(&ma).unwrap();
    std::fs::remove_file(&mb).unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let w = waiting.wait_with_output().unwrap();
    assert!(w.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    // It found alpha built by the other process: nothing to do.
    assert_eq!(
        common::outcomes(&String::from_utf8_lossy(&w.stdout)),
        vec![t("extract", "alpha", "fresh")]
    );
}
