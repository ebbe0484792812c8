//! `amt eval` on MIDI folders written in the test: pairing by name, the JSON shape (NaN as
//! null), means over files, a missing estimate scored as empty, a corrupt file reported while
//! the others are scored and published for `amt sql`.

mod common;

use amt_symbolic::{Note, notes_to_midi};
use common::Home;

fn note(onset: f64, offset: f64, pitch: u8) -> Note {
    Note {
        is_drum: false,
        program: 0,
        onset,
        offset,
        pitch,
        velocity: 1,
    }
}

fn drum(onset: f64, pitch: u8) -> Note {
    Note {
        is_drum: true,
        program: 128,
        onset,
        offset: onset + 0.01,
        pitch,
        velocity: 1,
    }
}

fn write(h: &Home, rel: &str, notes: &[Note]) {
    h.write(rel, &notes_to_midi(notes).unwrap());
}

/// `amt eval --ref <home>/ref --est <home>/<est> <extra>`.
fn eval_folders(h: &Home, est: &str, extra: &[&str]) -> std::process::Output {
    let folder = |name: &str| h.path().join(name).display().to_string();
    let (reference, estimate) = (folder("ref"), folder(est));
    let mut args = vec!["eval", "--ref", &reference, "--est", &estimate];
    args.extend_from_slice(extra);
    h.run(&args)
}

fn scale() -> Vec<Note> {
    vec![
        note(0.5, 1.0, 60),
        note(1.0, 1.5, 62),
        note(1.5, 2.0, 64),
        note(2.0, 2.5, 65),
    ]
}

#[test]
fn eval_scores_pairs_and_publishes_for_sql() {
    let h = Home::new();
    write(&h, "ref/exact.mid", &scale());
    write(&h, "est/exact.mid", &scale());
    // Two of four onsets moved by 100 ms (> 50 ms tolerance): P = R = F = 0.5.
    write(&h, "ref/half.mid", &scale());
    let mut moved = scale();
    moved[1].onset += 0.1;
    moved[3].onset += 0.1;
    write(&h, "est/half.midi", &moved);
    // No estimate: scored against nothing, F = 0.
    write(&h, "ref/missed.mid", &scale());
    // Drums only on both sides: no pitched notes -> onset_f is NaN (null), drums match.
    write(&h, "ref/drums.mid", &[drum(0.5, 36), drum(1.0, 38)]);
    write(&h, "est/drums.mid", &[drum(0.5, 36), drum(1.0, 38)]);
    // An estimate without a reference is reported and skipped.
    write(&h, "est/extra.mid", &scale());

    let out = eval_folders(&h, "est", &["--name", "run1", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["files"];
    assert_eq!(f["exact"]["onset_f"], 1.0);
    assert_eq!(f["exact"]["offset_f"], 1.0);
    assert!((f["half"]["onset_f"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(f["missed"]["onset_f"], 0.0);
    assert!(
        f["drums"]["onset_f"].is_null(),
        "NaN is null: {}",
        f["drums"]
    );
    assert_eq!(f["drums"]["onset_f_drum"], 1.0);
    assert!(f.get("extra").is_none());
    assert_eq!(v["unmatched_estimates"][0], "extra");
    // Macro mean ignores the NaN file: (1 + 0.5 + 0) / 3.
    assert!((v["mean"]["onset_f"].as_f64().unwrap() - 0.5).abs() < 1e-9);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`missed` has no estimate"), "{err}");

    let csv = h.sql_csv(
        "SELECT run, dataset, metric, round(value, 6) AS v, n_files FROM eval_means WHERE metric = 'onset_f'",
    );
    assert_eq!(
        csv,
        "run,dataset,metric,v,n_files\nrun1,ref,onset_f,0.5,3\n"
    );
    let csv = h.sql_csv(
        "SELECT file, value FROM eval_results WHERE run = 'run1' AND metric = 'onset_f' ORDER BY file",
    );
    assert_eq!(csv, "file,value\ndrums,\nexact,1.0\nhalf,0.5\nmissed,0.0\n");

    // An eval run is not a dataset: a plain `amt run` builds only real datasets.
    h.ok(&["run", "--datasets", "ref"]);
    assert_eq!(
        h.run_report(&[]),
        vec![common::t("extract", "ref", "fresh")]
    );
}

#[test]
fn a_corrupt_estimate_is_scored_as_empty_and_named() {
    let h = Home::new();
    write(&h, "ref/good.mid", &scale());
    write(&h, "est/good.mid", &scale());
    write(&h, "ref/bad.mid", &scale());
    h.write("est/bad.mid", b"this is not a MIDI file");
    let out = eval_folders(&h, "est", &["--name", "broken", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("problem: ") && err.contains("est/bad.mid") && err.contains("scored as empty"),
        "{err}"
    );
    assert!(
        err.contains("scored 2 file(s); 1 unreadable estimate(s) scored as empty"),
        "{err}"
    );
    // The broken estimate lowers the mean: (1 + 0) / 2, not 1.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"]["bad"]["onset_f"], 0.0);
    assert!((v["mean"]["onset_f"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert_eq!(
        h.sql_csv("SELECT count(DISTINCT file) AS n FROM eval_results WHERE run = 'broken'"),
        "n\n2\n"
    );
    assert_eq!(
        h.sql_csv(
            "SELECT value, n_files FROM eval_means WHERE run = 'broken' AND metric = 'onset_f'"
        ),
        "value,n_files\n0.5,2\n"
    );

    // --skip-unreadable keeps the old behaviour: the broken file is left out, and said so.
    let out = eval_folders(&h, "est", &["--name", "skipped", "--skip-unreadable"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left out (--skip-unreadable)"), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("good") && text.contains("1.0000"), "{text}");
    assert_eq!(
        h.sql_csv("SELECT count(DISTINCT file) AS n FROM eval_results WHERE run = 'skipped'"),
        "n\n1\n"
    );
}

#[test]
fn an_unreadable_reference_is_left_out_and_said_so() {
    let h = Home::new();
    write(&h, "ref/good.mid", &scale());
    write(&h, "est/good.mid", &scale());
    let mut cut = amt_symbolic::notes_to_midi(&scale()).unwrap();
    cut.truncate(cut.len() - 5);
    h.write("ref/cut.mid", &cut);
    write(&h, "est/cut.mid", &scale());
    let out = eval_folders(&h, "est", &["--name", "r"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ref/cut.mid (unreadable reference, left out)") && err.contains("truncated"),
        "{err}"
    );
    assert!(
        err.contains("scored 1 file(s); 1 unreadable reference(s) left out"),
        "{err}"
    );
}

#[test]
fn an_empty_estimate_folder_is_an_error_with_a_hint() {
    let h = Home::new();
    write(&h, "ref/a.mid", &scale());
    std::fs::create_dir_all(h.path().join("est")).unwrap();
    let out = eval_folders(&h, "est", &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no MIDI files") && err.contains("hint:"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// `tests/fixtures/eval_as_written`: MIDI pairs and mir_eval's scores on the notes they hold,
/// from `make.py` there (independent of amt: mido reads, FIFO note pairing, exact times).
#[test]
fn eval_scores_what_the_files_hold() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval_as_written");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("expected.json")).unwrap()).unwrap();
    let h = Home::new();
    for side in ["ref", "est"] {
        for e in std::fs::read_dir(fixture.join(side)).unwrap() {
            let p = e.unwrap().path();
            let rel = format!("{side}/{}", p.file_name().unwrap().to_string_lossy());
            h.write(&rel, &std::fs::read(&p).unwrap());
        }
    }
    let files = expected["files"].as_object().unwrap();
    assert_eq!(files.len(), 5);
    let out = eval_folders(&h, "est", &["--json", "--name", "clean"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut compared = 0;
    for (name, metrics) in files {
        for (metric, want) in metrics.as_object().unwrap() {
            let got = v["files"][name][metric]
                .as_f64()
                .unwrap_or_else(|| panic!("{name} has no {metric}: {}", v["files"][name]));
            let want = want.as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9,
                "{name} {metric}: amt {got}, mir_eval {want}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 30, "{compared}");

    // A corrupt and a truncated estimate among the good ones: both named, both scored as
    // empty, the mean lowered accordingly.
    let mut cut = std::fs::read(fixture.join("est/jitter.mid")).unwrap();
    cut.truncate(cut.len() / 2);
    h.write("est/jitter.mid", &cut);
    h.write("est/short.mid", b"MThd garbage");
    let out = eval_folders(&h, "est", &["--json", "--name", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("est/jitter.mid") && err.contains("truncated"),
        "{err}"
    );
    assert!(err.contains("est/short.mid"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["files"]["jitter"]["onset_f"], 0.0);
    assert_eq!(v["files"]["short"]["onset_f"], 0.0);
    let kept = ["duplicates", "overlap", "drums"];
    let want: f64 = kept
        .iter()
        .map(|n| files[*n]["onset_f"].as_f64().unwrap())
        .sum::<f64>()
        / 5.0;
    let got = v["mean"]["onset_f"].as_f64().unwrap();
    assert!((got - want).abs() <= 1e-9, "mean {got} vs {want}");
}

#[test]
fn unknown_vocabulary_lists_the_valid_ones() {
    let h = Home::new();
    write(&h, "ref/a.mid", &scale());
    let out = eval_folders(&h, "ref", &["--eval-vocab", "NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOPE") && err.contains("GM_INSTR_CLASS"),
        "{err}"
    );
}

#[test]
fn predictions_table_is_scored_against_published_notes() {
    use std::sync::Arc;

    use arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use arrow::record_batch::RecordBatch;

    let h = Home::new();
    let maestro = common::fixtures().join("maestro");
    h.ok(&[
        "run",
        "--until",
        "notes",
        "--datasets",
        &maestro.display().to_string(),
    ]);
    let csv = h.sql_csv(
        "SELECT track_id, program, is_drum, onset, \"offset\", pitch FROM notes ORDER BY onset, pitch",
    );
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert!(rows.len() > 1000, "the fixture has thousands of notes");
    // Keep every other note: P = 1, R = 1/2 (rounded up), F = 2PR / (P + R).
    let kept: Vec<&Vec<String>> = rows.iter().step_by(2).collect();
    let col = |i: usize| kept.iter().map(move |r| r[i].clone());
    // Predictions written with pandas-like widths (Int64) to exercise the casts.
    let schema = Arc::new(Schema::new(vec![
        Field::new("track_id", DataType::Utf8, false),
        Field::new("program", DataType::Int64, false),
        Field::new("is_drum", DataType::Boolean, false),
        Field::new("onset", DataType::Float64, false),
        Field::new("offset", DataType::Float64, false),
        Field::new("pitch", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(col(0))),
            Arc::new(Int64Array::from_iter_values(
                col(1).map(|v| v.parse().unwrap()),
            )),
            Arc::new(BooleanArray::from(
                col(2).map(|v| v == "true").collect::<Vec<_>>(),
            )),
            Arc::new(Float64Array::from_iter_values(
                col(3).map(|v| v.parse().unwrap()),
            )),
            Arc::new(Float64Array::from_iter_values(
                col(4).map(|v| v.parse().unwrap()),
            )),
            Arc::new(Int64Array::from_iter_values(
                col(5).map(|v| v.parse().unwrap()),
            )),
        ],
    )
    .unwrap();
    let path = h.path().join("preds.parquet");
    let mut w =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let out = h.ok(&[
        "eval",
        "--predictions",
        &path.display().to_string(),
        "--dataset",
        "maestro",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (n, k) = (rows.len() as f64, kept.len() as f64);
    let (p, r) = (1.0, k / n);
    let f = v["mean"]["onset_f"].as_f64().unwrap();
    assert!((f - 2.0 * p * r / (p + r)).abs() < 1e-6, "onset_f {f}");
    assert_eq!(v["run"], "preds");
    assert_eq!(
        h.sql_csv(
            "SELECT count(*) AS n FROM eval_means WHERE run = 'preds' AND metric = 'onset_f'"
        ),
        "n\n1\n"
    );

    // Without published notes: a clear error and the command that builds them.
    let other = Home::new();
    let out = other.run(&[
        "eval",
        "--predictions",
        &path.display().to_string(),
        "--dataset",
        "maestro",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has no published notes") && err.contains("amt run --until notes"),
        "{err}"
    );
}
