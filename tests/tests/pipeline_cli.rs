//! The `amt` binary end to end: incremental runs, config changes, status, SQL, corruption,
//! crash safety and concurrency, on small datasets made in the test.

mod common;

use std::time::{Duration, Instant};

use common::{Home, count_files, fixtures, outcomes, t, wait_for};

fn two_datasets() -> Home {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.write("alpha/sub/b.bin", &[7u8; 1000]);
    h.write("beta/c.txt", b"three");
    h
}

#[test]
fn incremental_run_rebuilds_only_the_changed_dataset() {
    let h = two_datasets();
    assert_eq!(
        h.run_report(&["--datasets", "alpha,beta"]),
        vec![t("extract", "alpha", "ran"), t("extract", "beta", "ran")]
    );
    // Nothing changed: nothing runs, and the datasets are remembered.
    assert_eq!(
        h.run_report(&[]),
        vec![
            t("extract", "alpha", "fresh"),
            t("extract", "beta", "fresh")
        ]
    );
    h.write("beta/c.txt", b"THREE");
    assert_eq!(
        h.run_report(&[]),
        vec![t("extract", "alpha", "fresh"), t("extract", "beta", "ran")]
    );
    assert_eq!(
        h.sql_csv("SELECT dataset, path, size FROM files ORDER BY dataset, path"),
        "dataset,path,size\nalpha,a.txt,3\nalpha,sub/b.bin,1000\nbeta,c.txt,5\n"
    );
    // Reverting the change re-uses the first artifact instead of rebuilding.
    h.write("beta/c.txt", b"three");
    assert_eq!(
        h.run_report(&[]),
        vec![
            t("extract", "alpha", "fresh"),
            t("extract", "beta", "cached")
        ]
    );
}

#[test]
fn files_table_matches_the_folder_and_blake3() {
    let h = two_datasets();
    h.ok(&["run", "--datasets", "alpha"]);
    let csv = h.sql_csv("SELECT path, blake3 FROM files WHERE path = 'a.txt'");
    assert_eq!(
        csv,
        format!("path,blake3\na.txt,{}\n", blake3::hash(b"one").to_hex())
    );
}

#[test]
fn config_change_rebuilds_that_stage_and_status_says_why() {
    let h = two_datasets();
    h.write("alpha/.hidden", b"secret");
    h.ok(&["run", "--datasets", "alpha,beta"]);
    let status = h.run(&["status"]);
    assert!(status.status.success());
    assert!(String::from_utf8_lossy(&status.stdout).contains("up to date"));

    // A per-dataset override changes only alpha's key.
    h.write(
        "amt.toml",
        b"[dataset.alpha.stage.extract]\ninclude_hidden = true\n",
    );
    let status = h.run(&["status"]);
    assert_eq!(status.status.code(), Some(1), "not fresh -> exit 1");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("config include_hidden: false -> true"),
        "{text}"
    );
    assert!(text.contains("hint: run `amt run`"), "{text}");
    assert_eq!(
        h.run_report(&[]),
        vec![t("extract", "alpha", "ran"), t("extract", "beta", "fresh")]
    );
    assert_eq!(
        h.sql_csv("SELECT count(*) AS n FROM files WHERE dataset = 'alpha'"),
        "n\n3\n"
    );
    let shown = h.ok(&["config", "show"]);
    assert!(shown.contains("include_hidden = true"), "{shown}");
}

#[test]
fn status_explains_an_input_change() {
    let h = two_datasets();
    h.ok(&["run", "--datasets", "alpha"]);
    h.write("alpha/new.txt", b"new");
    let out = h.run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["state"], "stale");
    let why = v[0]["why"][0].as_str().unwrap();
    assert!(why.starts_with("input `external:folder` changed"), "{why}");
}

#[test]
fn bad_config_and_unknown_stage_fail_clearly() {
    let h = two_datasets();
    h.write("amt.toml", b"[stage.extract]\nincluude_hidden = true\n");
    let out = h.run(&["run", "--datasets", "alpha"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("incluude_hidden"), "{err}");
    assert!(err.contains("amt.toml"), "{err}");

    std::fs::remove_file(h.path().join("amt.toml")).unwrap();
    let out = h.run(&["stage", "train", "--datasets", "alpha"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not built yet"), "{err}");
}

#[test]
fn missing_dataset_folder_fails_that_dataset_only() {
    let h = two_datasets();
    let out = h.run(&["run", "--json", "--datasets", "alpha,nothere"]);
    assert_eq!(out.status.code(), Some(1));
    let report = outcomes(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(
        report,
        vec![
            t("extract", "alpha", "ran"),
            t("extract", "nothere", "failed")
        ]
    );
    assert_eq!(
        h.sql_csv("SELECT count(*) AS n FROM files"),
        "n\n2\n",
        "the good dataset is published"
    );
}

#[test]
fn sql_errors_are_clear_and_stdin_works() {
    let h = two_datasets();
    h.ok(&["run", "--datasets", "alpha"]);
    let out = h.run(&["sql", "SELECT no_such_column FROM files"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
    assert!(err.contains("hint: tables: files"), "{err}");

    let mut child = h
        .cmd(&["sql", "--format", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT count(*) AS n FROM files")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"[{"n":2}]"#);

    let tables = h.ok(&["tables"]);
    assert!(
        tables.contains("files (2 rows in 1 dataset(s))"),
        "{tables}"
    );
}

#[test]
fn fixture_folders_by_path_then_sql_counts_them() {
    let h = Home::new();
    let slakh = fixtures().join("slakh");
    let maestro = fixtures().join("maestro");
    let list = format!("{},{}", slakh.display(), maestro.display());
    h.ok(&["run", "--datasets", &list]);
    let (n_slakh, b_slakh) = count_files(&slakh);
    let (n_maestro, b_maestro) = count_files(&maestro);
    assert_eq!(
        h.sql_csv("SELECT dataset, count(*) AS n, sum(size) AS bytes FROM files GROUP BY dataset ORDER BY dataset"),
        format!("dataset,n,bytes\nmaestro,{n_maestro},{b_maestro}\nslakh,{n_slakh},{b_slakh}\n")
    );
    // Remembered by name afterwards.
    assert_eq!(
        h.run_report(&["--datasets", "slakh"]),
        vec![
            t("extract", "slakh", "fresh"),
            t("notes", "slakh", "fresh"),
            t("shards", "slakh", "fresh"),
            t("split", "slakh", "fresh"),
            t("stem", "slakh", "fresh")
        ]
    );
}

#[test]
fn corruption_is_found_evicted_and_rebuilt() {
    let h = two_datasets();
    h.ok(&["run", "--datasets", "alpha,beta"]);
    let parquet = glob_one(&h.store().join("artifacts/extract/beta"), "files.parquet");
    let mut bytes = std::fs::read(&parquet).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&parquet, bytes).unwrap();

    let out = h.run(&["cache", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&parquet.display().to_string()), "{text}");
    assert!(text.contains("1 corrupt"), "{text}");

    assert_eq!(
        h.run_report(&[]),
        vec![t("extract", "alpha", "fresh"), t("extract", "beta", "ran")]
    );
    assert!(h.run(&["cache", "verify"]).status.success());
    assert_eq!(h.sql_csv("SELECT count(*) AS n FROM files"), "n\n3\n");
}

#[test]
fn kill_during_publish_leaves_no_partial_artifact() {
    let h = two_datasets();
    let marker = h.path().join("paused");
    let mut child = h
        .cmd(&["run", "--quiet", "--datasets", "alpha"])
        .env("AMT_TEST_PAUSE_BEFORE_PUBLISH", &marker)
        .spawn()
        .unwrap();
    wait_for(|| marker.exists());
    // The writer has fsynced everything and is about to rename: kill -9 it there.
    child.kill().unwrap();
    child.wait().unwrap();

    assert!(
        h.store().join("tmp").read_dir().unwrap().next().is_some(),
        "leftover exists"
    );
    assert!(
        !h.store().join("artifacts/extract/alpha").exists(),
        "nothing published"
    );
    assert!(!h.store().join("refs/extract/alpha.json").exists());
    assert_eq!(h.sql_csv("SELECT count(*) AS n FROM files"), "n\n0\n");
    let doctor = h.run(&["doctor"]);
    assert!(
        String::from_utf8_lossy(&doctor.stdout).contains("leftover(s) of interrupted runs"),
        "doctor reports the leftover"
    );

    assert_eq!(
        h.run_report(&["--datasets", "alpha"]),
        vec![t("extract", "alpha", "ran")]
    );
    assert!(h.run(&["cache", "verify"]).status.success());
    assert_eq!(
        h.store().join("tmp").read_dir().unwrap().count(),
        0,
        "leftovers cleaned"
    );
    assert_eq!(h.sql_csv("SELECT count(*) AS n FROM files"), "n\n2\n");
}

#[test]
fn ctrl_c_stops_between_stages_and_the_next_run_continues() {
    let h = Home::new();
    copy_dir(
        &fixtures().join("slakh/babyslakh_16k"),
        &h.path().join("slakh_sig"),
    );
    let marker = h.path().join("paused");
    let child = h
        .cmd(&["run", "--datasets", "slakh_sig"])
        .env("AMT_TEST_PAUSE_BEFORE_PUBLISH", &marker)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| marker.exists());
    // Ctrl-C while `extract` publishes: it finishes publishing (atomically), `notes` never starts.
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    std::fs::remove_file(&marker).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes slakh_sig: interrupted"), "{err}");
    assert!(err.contains("run the same command to continue"), "{err}");
    assert!(h.store().join("refs/extract/slakh_sig.json").exists());
    assert!(!h.store().join("refs/notes").join("slakh_sig.json").exists());
    assert_eq!(h.store().join("tmp").read_dir().unwrap().count(), 0);
    assert!(h.run(&["cache", "verify"]).status.success());

    assert_eq!(
        h.run_report(&["--datasets", "slakh_sig"]),
        vec![
            t("extract", "slakh_sig", "fresh"),
            t("notes", "slakh_sig", "ran"),
            t("shards", "slakh_sig", "ran"),
            t("split", "slakh_sig", "ran"),
            t("stem", "slakh_sig", "ran")
        ]
    );
}

#[test]
fn concurrent_runs_wait_for_each_other() {
    let h = two_datasets();
    let marker = h.path().join("paused");
    let mut first = h
        .cmd(&["run", "--json", "--datasets", "alpha,beta"])
        .env("AMT_TEST_PAUSE_BEFORE_PUBLISH", &marker)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(|| marker.exists());
    // A second writer with --no-wait fails clearly while the first holds the lock.
    let out = h.run(&["run", "--no-wait", "--datasets", "alpha"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked by another amt process"), "{err}");
    // A waiting one starts now and finishes after the first.
    let second = h
        .cmd(&["run", "--json", "--datasets", "alpha,beta"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Release every pause (both datasets publish in parallel, one marker at a time).
    let deadline = Instant::now() + Duration::from_secs(30);
    while first.try_wait().unwrap().is_none() && Instant::now() < deadline {
        let _ = std::fs::remove_file(&marker);
        std::thread::sleep(Duration::from_millis(20));
    }
    let a = first.wait_with_output().unwrap();
    let b = second.wait_with_output().unwrap();
    assert!(a.status.success() && b.status.success());
    let mut all = outcomes(&String::from_utf8_lossy(&a.stdout));
    all.extend(outcomes(&String::from_utf8_lossy(&b.stdout)));
    all.sort();
    assert_eq!(
        all,
        vec![
            t("extract", "alpha", "fresh"),
            t("extract", "alpha", "ran"),
            t("extract", "beta", "fresh"),
            t("extract", "beta", "ran"),
        ]
    );
    assert!(h.run(&["cache", "verify"]).status.success());
}

#[test]
fn gc_removes_unreferenced_artifacts_only() {
    let h = two_datasets();
    h.ok(&["run", "--datasets", "alpha"]);
    h.write("alpha/a.txt", b"changed");
    h.ok(&["run"]);
    let dry = h.ok(&["cache", "gc", "--dry-run"]);
    assert!(dry.contains("would remove 1 artifact(s)"), "{dry}");
    assert_eq!(count_dirs(&h.store().join("artifacts/extract/alpha")), 2);
    h.ok(&["cache", "gc"]);
    assert_eq!(count_dirs(&h.store().join("artifacts/extract/alpha")), 1);
    assert_eq!(
        h.run_report(&[]),
        vec![t("extract", "alpha", "fresh")],
        "the current artifact survives"
    );
    let ls = h.ok(&["cache", "ls", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&ls).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["current"], true);
}

#[test]
fn doctor_reports_libtorch() {
    let h = Home::new();
    let out = h.ok(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["libtorch_version"].as_str().unwrap().starts_with("2.11"),
        "{v}"
    );
    assert!(v["torch_threads"].as_i64().unwrap() >= 1);
    let stages: Vec<&str> = v["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(stages.contains(&"extract"), "{stages:?}");
}

#[test]
fn demo_runs_twice_and_rebuilds_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        std::process::Command::new(common::amt_bin())
            .args(["demo", "--tour", "--dir"])
            .arg(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap()
    };
    let first = run();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout);
    // Bass stems are written an octave high, as Slakh's are: MIDI 36..48 becomes 24..36.
    assert!(
        text.contains("| demo_slakh   | 33      | false   | 8     | 24     | 36      |"),
        "{text}"
    );
    assert!(
        text.contains("ch0: 339 "),
        "tokens of the first segment: {text}"
    );
    assert!(text.contains("(mean)"), "eval table: {text}");
    let second = run();
    assert!(second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("0 built, "), "{err}");
    assert!(!err.contains(": built in"), "{err}");
}

fn glob_one(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let mut found = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path().join(name);
        if p.exists() {
            found.push(p);
        }
    }
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn count_dirs(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}
