//! Issue 10's defects, one test each, through the `amt` binary: the store never deletes
//! outside itself, SQL cannot write, a damaged ref or manifest stays local, a closed pipe or
//! Ctrl-C ends a command cleanly, deep queries plan, `-q` keeps failures, a renamed Slakh
//! folder still reads, unreadable names are said; plus the UX fixes.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Home, fixtures, interrupt, t, wait_for};

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_foreign_store_folder_is_refused_and_nothing_in_it_deleted() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    // The reported case: `--store V` where V holds someone's `tmp/project/f`.
    let v = h.path().join("V");
    std::fs::create_dir_all(v.join("tmp/project")).unwrap();
    std::fs::write(v.join("tmp/project/f"), b"x").unwrap();
    let out = h
        .cmd(&["--store", v.to_str().unwrap(), "run", "--datasets", "alpha"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("is not an amt store") && err.contains("AMT_STORE"),
        "{err}"
    );
    assert!(
        v.join("tmp/project/f").exists(),
        "nothing outside a store is deleted"
    );

    // A store whose tmp/ became a link: refused, the folder it points to untouched.
    h.ok(&["run", "--datasets", "alpha"]);
    let outside = h.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep"), b"x").unwrap();
    let tmp = h.store().join("tmp");
    std::fs::remove_dir_all(&tmp).unwrap();
    std::os::unix::fs::symlink(&outside, &tmp).unwrap();
    let out = h.run(&["run", "--datasets", "alpha", "--force"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("symbolic link"),
        "{}",
        stderr_of(&out)
    );
    assert!(outside.join("keep").exists());
}

#[test]
fn sql_is_read_only() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.ok(&["run", "--datasets", "alpha"]);
    let files: Vec<std::path::PathBuf> = walk(&h.store().join("artifacts/extract"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    assert_eq!(files.len(), 2, "files and problems: {files:?}");
    let target = files.iter().find(|p| p.ends_with("files.parquet")).unwrap();
    let before = std::fs::read(target).unwrap();
    let copy = format!(
        "COPY (SELECT * FROM files WHERE size > 1000) TO '{}'",
        target.display()
    );
    for sql in [
        copy.as_str(),
        "DROP TABLE files",
        "CREATE TABLE x AS SELECT 1",
        "INSERT INTO files VALUES ('a')",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let out = h.run(&["sql", sql]);
        assert_eq!(out.status.code(), Some(1), "{sql}");
        let err = stderr_of(&out);
        assert!(err.contains("read-only"), "{sql}: {err}");
        assert!(out.stdout.is_empty(), "{sql}");
    }
    assert_eq!(
        std::fs::read(target).unwrap(),
        before,
        "the artifact is untouched"
    );
    assert!(h.run(&["cache", "verify"]).status.success());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_damaged_ref_or_manifest_stays_local() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.write("beta/b.txt", b"two");
    h.write("gamma/c.txt", b"three");
    h.ok(&["run", "--datasets", "alpha,beta,gamma"]);
    // An empty ref for alpha, a truncated manifest for beta's artifact.
    std::fs::write(h.store().join("refs/extract/alpha.json"), b"").unwrap();
    let beta = walk(&h.store().join("artifacts/extract/beta"))
        .into_iter()
        .find(|p| p.ends_with("manifest.json"))
        .unwrap();
    let text = std::fs::read(&beta).unwrap();
    std::fs::write(&beta, &text[..text.len() / 2]).unwrap();

    // SQL still answers, skipping both with a warning naming them.
    let out = h.run(&[
        "sql",
        "--format",
        "csv",
        "SELECT dataset FROM files ORDER BY 1",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "dataset\ngamma\n");
    let err = stderr_of(&out);
    assert!(
        err.contains("alpha") && err.contains("ref") && err.contains("beta"),
        "{err}"
    );
    assert!(h.ok(&["sql", "SELECT 1"]).contains('1'));

    // Status names them damaged; the healthy one is fresh.
    let out = h.run(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let state = |ds: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|e| e["dataset"] == ds)
            .map(|e| e["state"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(state("alpha"), "damaged");
    assert_eq!(state("beta"), "damaged");
    assert_eq!(state("gamma"), "fresh");

    // verify reports and evicts them; run rebuilds them.
    let out = h.run(&["cache", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("alpha.json") && text.contains("manifest.json"),
        "{text}"
    );
    assert_eq!(
        h.run_report(&["--datasets", "alpha,beta,gamma"]),
        // alpha's artifact was intact (only its ref was damaged): the ref is set again.
        vec![
            t("extract", "alpha", "cached"),
            t("extract", "beta", "ran"),
            t("extract", "gamma", "fresh")
        ]
    );
    assert!(h.run(&["cache", "verify"]).status.success());
}

/// Reads one line of `amt ARGS`'s stdout, closes the pipe, and returns the exit status and
/// stderr.
fn close_after_one_line(h: &Home, args: &[&str]) -> (Option<i32>, String) {
    let mut child = h
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(!line.is_empty());
    drop(out);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn a_closed_pipe_ends_commands_quietly() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.ok(&["run", "--datasets", "alpha"]);
    for args in [
        &[
            "sql",
            "--format",
            "csv",
            "SELECT * FROM generate_series(1, 2000000)",
        ][..],
        &["sql", "SELECT * FROM generate_series(1, 200000)"][..],
        &["tables"][..],
        &["install", "--list"][..],
    ] {
        let (code, err) = close_after_one_line(&h, args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn ctrl_c_stops_a_query_at_once() {
    let h = Home::new();
    let mut child = h
        .cmd(&[
            "sql",
            "SELECT count(*) FROM generate_series(1, 100000000000)",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let sent = Instant::now();
    interrupt(child.id());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the query ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
}

#[test]
fn generated_deep_queries_plan_or_fail_clearly() {
    let h = Home::new();
    let ors: Vec<String> = (0..500).map(|i| format!("value = {i}")).collect();
    let sum: Vec<String> = (0..500).map(|i| i.to_string()).collect();
    for sql in [
        format!(
            "SELECT count(*) AS n FROM generate_series(1, 10) AS t(value) WHERE {}",
            ors.join(" OR ")
        ),
        format!("SELECT {} AS s", sum.join(" + ")),
    ] {
        let out = h.run(&["sql", "--format", "csv", &sql]);
        let err = stderr_of(&out);
        assert!(
            out.status.success() || err.contains("too deeply nested"),
            "{:?}: {err}",
            out.status
        );
        assert_ne!(out.status.code(), Some(134));
    }
    let out = h.run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT {} AS s", sum.join(" + ")),
    ]);
    if out.status.success() {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "s\n124750\n");
    }
}

#[test]
fn quiet_never_hides_a_failure() {
    let h = Home::new();
    let out = h.run(&["-q", "run", "--datasets", "nosuchds"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("nosuchds") && err.contains("FAILED"), "{err}");
}

#[test]
fn a_renamed_babyslakh_folder_still_reads_and_an_empty_track_is_a_problem() {
    let h = Home::new();
    let src = fixtures().join("slakh/babyslakh_16k/Track00001");
    let ds = h.path().join("slakh");
    copy_dir(&src, &ds.join("Track00001"));
    // A track whose stems have no files: nothing to read, said as a problem.
    std::fs::create_dir_all(ds.join("Track00002")).unwrap();
    std::fs::copy(
        src.join("metadata.yaml"),
        ds.join("Track00002/metadata.yaml"),
    )
    .unwrap();
    h.ok(&["run", "--until", "notes", "--datasets", "slakh"]);
    let csv = h.sql_csv("SELECT track_id, n_stems, n_notes > 0 AS has_notes FROM tracks");
    let row = csv.lines().nth(1).unwrap();
    assert!(
        row.starts_with("Track00001,") && row.ends_with(",true"),
        "{csv}"
    );
    assert_ne!(row, "Track00001,0,false", "{csv}");
    let problems = h.sql_csv("SELECT path, error FROM problems WHERE stage = 'notes'");
    assert!(
        problems.contains("Track00002/metadata.yaml") && problems.contains("no usable stem"),
        "{problems}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn unreadable_names_are_warned_about_and_become_problems() {
    use std::os::unix::ffi::OsStrExt;
    let h = Home::new();
    h.write("odd/good.txt", b"ok");
    let odd = h.path().join("odd");
    std::fs::write(odd.join(std::ffi::OsStr::from_bytes(b"bad\xff.txt")), b"x").unwrap();
    std::os::unix::fs::symlink(odd.join("missing"), odd.join("dangling")).unwrap();
    let out = h.run(&["run", "--datasets", "odd"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("2 entries left out") && err.contains("dangling"),
        "{err}"
    );
    let csv = h.sql_csv("SELECT path, error FROM problems WHERE dataset = 'odd' ORDER BY path");
    let lines: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines.iter().any(|l| l.contains("not UTF-8")), "{csv}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("dangling,") && l.contains("dangling symbolic link")),
        "{csv}"
    );
    assert_eq!(
        h.sql_csv("SELECT count(*) AS n FROM files WHERE dataset = 'odd'"),
        "n\n1\n"
    );
}

#[test]
fn table_output_headers_escapes_and_caps() {
    let h = Home::new();
    // An empty result still has its header, in every format.
    assert_eq!(
        h.sql_csv("SELECT dataset, path FROM files WHERE size > 0"),
        "dataset,path\n"
    );
    let out = h.ok(&["sql", "SELECT dataset, path FROM files"]);
    assert!(out.contains("dataset") && out.contains("path"), "{out}");
    assert_eq!(
        h.ok(&["sql", "--format", "json", "SELECT 1 AS x WHERE false"]),
        "[]\n"
    );
    // A newline inside a value is escaped in the table.
    let out = h.ok(&["sql", "SELECT 'a' || chr(10) || 'b' AS v"]);
    assert!(out.contains("a\\nb"), "{out}");
    // A million rows in table format: capped with a note (CSV gives them all).
    let out = h.ok(&["sql", "SELECT * FROM generate_series(1, 1000000)"]);
    assert!(
        out.contains("showing the first 10000 rows"),
        "{}",
        &out[out.len() - 300..]
    );
    assert!(out.lines().count() < 10_010);
    // Errors are sentences.
    let out = h.run(&["sql", "SELEC 1"]);
    let err = stderr_of(&out);
    assert!(
        !err.contains("ParserError(") && err.starts_with("error: "),
        "{err}"
    );
}

#[test]
fn no_colour_without_a_terminal_and_a_new_home_says_how_to_start() {
    let h = Home::new();
    let out = h.cmd(&["run"]).env_remove("NO_COLOR").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(
        err.contains("amt install") && err.contains("amt demo"),
        "{err}"
    );
}

#[test]
fn a_deep_folder_gives_one_short_line() {
    let h = Home::new();
    // Made level by level relative to an open folder (the whole path is longer than PATH_MAX).
    let script = "import os\nos.mkdir('deep')\nfd = os.open('deep', os.O_RDONLY)\nfor _ in range(3000):\n    os.mkdir('d', dir_fd=fd)\n    nfd = os.open('d', os.O_RDONLY, dir_fd=fd)\n    os.close(fd)\n    fd = nfd\nos.close(os.open('f', os.O_CREAT | os.O_WRONLY, dir_fd=fd))\n";
    let ok = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .current_dir(h.path())
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = h.run(&["run", "--datasets", "deep"]);
    let err = stderr_of(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.len() < 1000,
        "{} bytes: {}",
        err.len(),
        &err[..500.min(err.len())]
    );
    assert!(!err.contains("invalid configuration"), "{err}");
    assert!(err.contains("levels deep"), "{err}");
}

#[test]
fn sql_and_status_answer_while_a_stage_holds_its_write() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.write("beta/b.txt", b"two");
    h.ok(&["run", "--datasets", "beta"]);
    let marker = h.path().join("paused");
    let mut child = h
        .cmd(&["run", "--datasets", "alpha"])
        .env("AMT_TEST_PAUSE_BEFORE_PUBLISH", &marker)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(|| marker.exists());
    let started = Instant::now();
    assert_eq!(h.sql_csv("SELECT count(*) AS n FROM files"), "n\n1\n");
    h.run(&["status", "--datasets", "beta"]);
    h.ok(&["tables"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    std::fs::remove_file(&marker).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(h.sql_csv("SELECT count(*) AS n FROM files"), "n\n2\n");
}

#[test]
fn a_corrupt_artifact_file_is_named_with_the_fix() {
    let h = Home::new();
    h.write("alpha/a.txt", b"one");
    h.ok(&["run", "--datasets", "alpha"]);
    let file = walk(&h.store().join("artifacts/extract"))
        .into_iter()
        .find(|p| p.ends_with("files.parquet"))
        .unwrap();
    let mut b = std::fs::read(&file).unwrap();
    let end = b.len() - 8;
    for x in &mut b[4..end] {
        *x ^= 0x33;
    }
    std::fs::write(&file, b).unwrap();
    let out = h.run(&["sql", "SELECT * FROM files"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains(&file.display().to_string()) && err.contains("amt cache verify"),
        "{err}"
    );
}
