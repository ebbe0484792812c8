//! The `notes` stage and `amt tokenize` end to end, on the shared Slakh, MAESTRO and GuitarSet
//! fixtures. Expected counts and note digests come from `symbolic/tests/golden/golden.json`,
//! computed by an independent Python script (mido + PyYAML); token ids are compared with
//! `amt_symbolic`'s encoding of the same fixture files read directly.

mod common;

use std::path::Path;

use amt_symbolic::datasets::{SlakhTrack, maestro_notes, read_guitarset_jams};
use amt_symbolic::vocab::{EOS, VOCAB_SIZE};
use amt_symbolic::{Note, NoteEventList, Task, Token, segment_start_times_for_samples, tokenizer};
use common::{Home, fixtures, outcomes, t};
use serde_json::Value;

const MAESTRO_ID: &str = "MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1";

fn golden() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../symbolic/tests/golden/golden.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden.json")).expect("valid JSON")
}

/// FNV-1a 64 over `onset_tick,offset_tick,pitch,program,drum` lines, as make_golden.py.
fn digest(rows: &[(f64, f64, u8, u8, bool)]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &(on, off, pitch, program, drum) in rows {
        let line = format!(
            "{},{},{pitch},{program},{}\n",
            (on * 100.0).round_ties_even() as i64,
            (off * 100.0).round_ties_even() as i64,
            u8::from(drum)
        );
        for b in line.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
    format!("{h:016x}")
}

/// Notes of one (dataset, stem) from `amt sql`, in YourMT3's note order.
fn sql_notes(h: &Home, dataset: &str, stem: Option<&str>) -> Vec<(f64, f64, u8, u8, bool)> {
    let stem_cond = match stem {
        Some(s) => format!("stem_id = '{s}'"),
        None => "stem_id IS NULL".into(),
    };
    let csv = h.sql_csv(&format!(
        "SELECT onset, \"offset\", pitch, program, is_drum FROM notes \
         WHERE dataset = '{dataset}' AND {stem_cond} \
         ORDER BY onset, is_drum, program, velocity, pitch"
    ));
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
                f[4].parse().unwrap(),
            )
        })
        .collect()
}

/// Golden stems of Slakh Track00001 that YourMT3 uses: (id, program as stored, is_drum, n_notes).
fn golden_slakh_stems(g: &Value) -> Vec<(String, u64, bool, u64)> {
    g["slakh_track00001"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, v)| v.get("usable").and_then(Value::as_bool) == Some(true))
        .map(|(id, v)| {
            let drum = v["is_drum"].as_bool().unwrap();
            let program = if drum {
                128
            } else {
                v["program_num"].as_u64().unwrap()
            };
            (id.clone(), program, drum, v["n_notes"].as_u64().unwrap())
        })
        .collect()
}

#[test]
fn slakh_and_maestro_notes_match_the_golden_values() {
    let h = Home::new();
    let f = fixtures();
    let list = format!(
        "{},{}",
        f.join("slakh/babyslakh_16k").display(),
        f.join("maestro").display()
    );
    assert_eq!(
        h.run_report(&["--until", "notes", "--datasets", &list]),
        vec![
            t("extract", "babyslakh_16k", "ran"),
            t("extract", "maestro", "ran"),
            t("notes", "babyslakh_16k", "ran"),
            t("notes", "maestro", "ran"),
        ]
    );
    let g = golden();
    let stems = golden_slakh_stems(&g);
    assert_eq!(stems.len(), 10, "golden lists 10 usable stems");

    // Notes per program (S00 and S08 share program 30), from the golden per-stem counts.
    let mut per_program = std::collections::BTreeMap::<u64, u64>::new();
    for (_, program, _, n) in &stems {
        *per_program.entry(*program).or_default() += n;
    }
    let mut want = String::from("program,n\n");
    for (p, n) in &per_program {
        want.push_str(&format!("{p},{n}\n"));
    }
    assert_eq!(
        h.sql_csv(
            "SELECT program, count(*) AS n FROM notes WHERE dataset = 'babyslakh_16k' \
             GROUP BY program ORDER BY program"
        ),
        want
    );
    // Every stem's full note list equals the independent computation.
    for (id, _, drum, n) in &stems {
        let rows = sql_notes(&h, "babyslakh_16k", Some(id));
        assert_eq!(rows.len() as u64, *n, "{id}");
        assert!(rows.iter().all(|r| r.4 == *drum), "{id}: drum flag");
        assert_eq!(
            digest(&rows),
            g["slakh_track00001"][id]["digest"].as_str().unwrap(),
            "{id}: notes differ from golden.json"
        );
    }
    // Events: an onset and an offset per pitched note, an onset per drum hit.
    let events: u64 = stems
        .iter()
        .map(|(_, _, drum, n)| if *drum { *n } else { 2 * n })
        .sum();
    assert_eq!(
        h.sql_csv(
            "SELECT count(*) AS n, sum(CASE WHEN kind = 'onset' THEN 1 ELSE 0 END) AS onsets \
             FROM note_events WHERE dataset = 'babyslakh_16k'"
        ),
        format!(
            "n,onsets\n{events},{}\n",
            stems.iter().map(|s| s.3).sum::<u64>()
        )
    );
    // Track00001 is published; Track00007 (MIDI only, no metadata.yaml) is quarantined.
    let longest = stems
        .iter()
        .map(|(id, ..)| g["slakh_track00001"][id]["midi_length"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(
        h.sql_csv(
            "SELECT track_id, duration_s, n_stems, n_notes FROM tracks \
             WHERE dataset = 'babyslakh_16k'"
        ),
        format!(
            "track_id,duration_s,n_stems,n_notes\nTrack00001,{longest},10,{}\n",
            stems.iter().map(|s| s.3).sum::<u64>()
        )
    );
    assert_eq!(
        h.sql_csv("SELECT dataset, stage, path FROM problems ORDER BY dataset, path"),
        "dataset,stage,path\nbabyslakh_16k,notes,Track00007/metadata.yaml\n"
    );

    // MAESTRO: sustain pedal applied, program 0, duration = MIDI length + 10 ms.
    let gm = &g["maestro"]["pedal"];
    let rows = sql_notes(&h, "maestro", None);
    assert_eq!(rows.len() as u64, gm["n_notes"].as_u64().unwrap());
    assert_eq!(digest(&rows), gm["digest"].as_str().unwrap());
    assert!(rows.iter().all(|r| r.3 == 0 && !r.4));
    let csv = h.sql_csv("SELECT track_id, duration_s FROM tracks WHERE dataset = 'maestro'");
    assert_eq!(
        csv,
        format!(
            "track_id,duration_s\n{MAESTRO_ID},{}\n",
            gm["midi_length"].as_f64().unwrap() + 0.01
        )
    );
    // A second run is a no-op.
    assert_eq!(
        h.run_report(&["--until", "notes"]),
        vec![
            t("extract", "babyslakh_16k", "fresh"),
            t("extract", "maestro", "fresh"),
            t("notes", "babyslakh_16k", "fresh"),
            t("notes", "maestro", "fresh"),
        ]
    );
}

fn copy_dir(from: &Path, to: &Path) {
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
fn a_corrupt_midi_is_quarantined_and_the_other_tracks_publish() {
    let h = Home::new();
    let src = fixtures().join("slakh/babyslakh_16k/Track00001");
    // The folder name keeps the babyslakh layout (stems used when their files exist).
    let ds = h.path().join("babyslakh_16k");
    copy_dir(&src, &ds.join("Track00001"));
    copy_dir(&src, &ds.join("Track00002"));
    h.write(
        "babyslakh_16k/Track00002/MIDI/S03.mid",
        b"MThd\x00\x00\x00\x06 not really a MIDI file",
    );
    assert_eq!(
        h.run_report(&["--until", "notes", "--datasets", "babyslakh_16k"]),
        vec![
            t("extract", "babyslakh_16k", "ran"),
            t("notes", "babyslakh_16k", "ran"),
        ]
    );
    let problems = h.sql_csv("SELECT path, error FROM problems");
    let mut lines = problems.lines().skip(1);
    let row = lines.next().expect("one problem");
    assert!(lines.next().is_none(), "{problems}");
    assert!(
        row.starts_with("Track00002/MIDI/S03.mid,") && row.contains("MIDI"),
        "{row}"
    );
    let g = golden();
    let total: u64 = golden_slakh_stems(&g).iter().map(|s| s.3).sum();
    assert_eq!(
        h.sql_csv("SELECT track_id, count(*) AS n FROM notes GROUP BY track_id"),
        format!("track_id,n\nTrack00001,{total}\n")
    );
    assert_eq!(
        h.sql_csv("SELECT track_id FROM tracks"),
        "track_id\nTrack00001\n"
    );

    // Repairing the file publishes the track on the next run (notes re-run, extract too).
    std::fs::copy(src.join("MIDI/S03.mid"), ds.join("Track00002/MIDI/S03.mid")).unwrap();
    h.ok(&["run", "--until", "notes"]);
    assert_eq!(h.sql_csv("SELECT count(*) AS n FROM problems"), "n\n0\n");
    assert_eq!(
        h.sql_csv("SELECT track_id, n_notes FROM tracks ORDER BY track_id"),
        format!("track_id,n_notes\nTrack00001,{total}\nTrack00002,{total}\n")
    );
}

#[test]
fn a_truncated_midi_is_a_problem_not_half_a_track() {
    let h = Home::new();
    let src = fixtures().join("slakh/babyslakh_16k/Track00001");
    let ds = h.path().join("babyslakh_16k");
    copy_dir(&src, &ds.join("Track00001"));
    copy_dir(&src, &ds.join("Track00002"));
    // Cut mid-track: midly alone would read the notes before the cut and say nothing.
    let whole = std::fs::read(src.join("MIDI/S03.mid")).unwrap();
    h.write(
        "babyslakh_16k/Track00002/MIDI/S03.mid",
        &whole[..whole.len() * 2 / 3],
    );
    h.ok(&["run", "--until", "notes", "--datasets", "babyslakh_16k"]);
    let problems = h.sql_csv("SELECT path, error FROM problems");
    assert!(
        problems.contains("Track00002/MIDI/S03.mid,") && problems.contains("truncated MIDI file"),
        "{problems}"
    );
    assert_eq!(
        h.sql_csv("SELECT track_id FROM tracks"),
        "track_id\nTrack00001\n"
    );
}

#[test]
fn notes_apply_by_dataset_name_or_configured_adapter() {
    let h = Home::new();
    copy_dir(
        &fixtures().join("slakh/babyslakh_16k/Track00001"),
        &h.path().join("mydata/babyslakh_16k/Track00001"),
    );
    // No adapter in the name: the dataset has no notes stage.
    assert_eq!(
        h.run_report(&["--datasets", "mydata"]),
        vec![t("extract", "mydata", "ran")]
    );
    let out = h.run(&["stage", "notes", "--datasets", "mydata"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not apply") && err.contains("[dataset.mydata.stage.notes]"),
        "{err}"
    );
    // Naming the adapter in the config adds it.
    h.write(
        "amt.toml",
        b"[dataset.mydata.stage.notes]\nadapter = \"slakh\"\n",
    );
    assert_eq!(
        h.run_report(&["--until", "notes"]),
        vec![t("extract", "mydata", "fresh"), t("notes", "mydata", "ran")]
    );
    assert_eq!(
        h.sql_csv("SELECT track_id, n_stems FROM tracks"),
        "track_id,n_stems\nTrack00001,10\n"
    );
    // A config field of the stage changes its key only: the bass fix off moves S03 up.
    let min_pitch = |h: &Home| h.sql_csv("SELECT min(pitch) AS p FROM notes WHERE stem_id = 'S03'");
    assert_eq!(min_pitch(&h), "p\n35\n");
    h.write(
        "amt.toml",
        b"[dataset.mydata.stage.notes]\nadapter = \"slakh\"\nslakh_fix_bass_octave = false\n",
    );
    let status = h.run(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("config slakh_fix_bass_octave: true -> false"),
        "{text}"
    );
    assert_eq!(
        h.run_report(&["--until", "notes"]),
        vec![t("extract", "mydata", "fresh"), t("notes", "mydata", "ran")]
    );
    assert_eq!(min_pitch(&h), "p\n47\n");
    // A typo in the section is rejected, naming the field.
    h.write(
        "amt.toml",
        b"[dataset.mydata.stage.notes]\nadapter = \"slakh\"\n[dataset.mydata.stage.notes.midi]\nquantise = false\n",
    );
    let out = h.run(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quantise"));
}

#[test]
fn guitarset_notes_and_the_invalid_jams_problem() {
    let h = Home::new();
    let gs = fixtures().join("guitarset");
    h.ok(&[
        "run",
        "--until",
        "notes",
        "--datasets",
        &gs.display().to_string(),
    ]);
    let g = golden();
    let want = read_guitarset_jams(&gs.join("annotation/03_BN3-119-G_solo.jams")).unwrap();
    assert_eq!(
        want.notes.len() as u64,
        g["guitarset"]["n_notes"].as_u64().unwrap()
    );
    let rows = sql_notes(&h, "guitarset", None);
    let expect: Vec<(f64, f64, u8, u8, bool)> = want
        .notes
        .iter()
        .map(|n| (n.onset, n.offset, n.pitch, n.program, n.is_drum))
        .collect();
    // The source track, then its 10 pitch-shifted renderings (`_pshift-5` .. `_pshift5`), each
    // with the source's notes transposed.
    let source: Vec<_> = rows
        .iter()
        .copied()
        .filter(|r| expect.contains(r))
        .collect();
    assert_eq!(source, expect);
    assert_eq!(rows.len(), 11 * expect.len());
    let shifted = |n: i32| -> Vec<(f64, f64, u8, u8, bool)> {
        h.sql_csv(&format!(
            "SELECT onset, \"offset\", pitch FROM notes \
             WHERE track_id = '03_BN3-119-G_solo_pshift{n}' ORDER BY onset, pitch"
        ))
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].parse().unwrap(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                24,
                false,
            )
        })
        .collect()
    };
    for n in [-5, 3] {
        let mut want: Vec<_> = expect
            .iter()
            .map(|&(on, off, p, prog, d)| (on, off, (i32::from(p) + n) as u8, prog, d))
            .collect();
        want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
        assert_eq!(shifted(n), want, "pshift{n}");
    }
    let duration = g["guitarset"]["duration"].as_f64().unwrap();
    assert_eq!(
        h.sql_csv("SELECT track_id, duration_s FROM tracks WHERE track_id = '03_BN3-119-G_solo'"),
        format!("track_id,duration_s\n03_BN3-119-G_solo,{duration}\n")
    );
    assert_eq!(
        h.sql_csv(&format!(
            "SELECT count(*) AS n FROM tracks \
             WHERE track_id LIKE '03_BN3-119-G_solo_pshift%' AND duration_s = {duration}"
        )),
        "n\n10\n"
    );
    let problems = h.sql_csv("SELECT path, error FROM problems");
    assert!(
        problems.contains("annotation/00_BN1-129-Eb_comp.jams,")
            && problems.contains("file_metadata"),
        "{problems}"
    );
    // Once, not once per rendering of the bad annotation.
    assert_eq!(
        h.sql_csv("SELECT count(*) AS n FROM problems WHERE path LIKE '%00_BN1-129-Eb_comp.jams'"),
        "n\n1\n"
    );
}

/// An adapter's own options live in `[dataset.D.adapter]`: GuitarSet's
/// `pitch_shift_renderings = false` leaves its `_pshift` tracks and lists out (and rebuilds:
/// the option is in the key); an option the adapter does not take is refused by name.
#[test]
fn adapter_options_are_validated_and_keyed() {
    let h = Home::new();
    let gs = fixtures().join("guitarset").display().to_string();
    let pshift =
        |h: &Home| h.sql_csv("SELECT count(*) AS n FROM splits WHERE split LIKE '%_pshift'");
    h.ok(&["run", "--until", "split", "--datasets", &gs]);
    assert_ne!(pshift(&h), "n\n0\n");
    h.write(
        "amt.toml",
        b"[dataset.guitarset.adapter]\nname = \"guitarset\"\npitch_shift_renderings = false\n",
    );
    h.ok(&["run", "--until", "split", "--datasets", &gs]);
    assert_eq!(pshift(&h), "n\n0\n");
    assert_eq!(
        h.sql_csv("SELECT count(*) AS n FROM tracks WHERE track_id LIKE '%_pshift%'"),
        "n\n0\n"
    );
    h.write(
        "amt.toml",
        b"[dataset.guitarset.adapter]\npitchshift = false\n",
    );
    let out = h.run(&["run", "--until", "split", "--datasets", &gs]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("[dataset.guitarset.adapter]")
            && err.contains("no option `pitchshift`")
            && err.contains("pitch_shift_renderings"),
        "{err}"
    );
}

/// The rows `amt tokenize --json` printed: per segment, per channel, ids through EOS.
fn tokenize_json(h: &Home, args: &[&str]) -> Value {
    let mut all = vec!["tokenize", "--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&h.ok(&all)).expect("tokenize --json prints JSON")
}

/// The library's rows for the same notes, cut after EOS like the command prints them.
fn library_rows(task: &Task, notes: &[Note], segments: usize) -> Vec<Vec<Vec<Token>>> {
    let list = NoteEventList::from_notes(notes).unwrap();
    segment_start_times_for_samples(segments * tokenizer::SEGMENT_SAMPLES)
        .into_iter()
        .map(|start| {
            let enc = task.encode_segment(&list, start).unwrap();
            (0..enc.num_channels)
                .map(|c| {
                    let row = enc.channel(c);
                    let end = row.iter().position(|&t| t == EOS).unwrap();
                    row[..=end].to_vec()
                })
                .collect()
        })
        .collect()
}

fn printed_rows(v: &Value) -> Vec<Vec<Vec<Token>>> {
    v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::from_value(s["tokens"].clone()).unwrap())
        .collect()
}

#[test]
fn tokenize_prints_the_library_encoding_of_the_published_notes() {
    let h = Home::new();
    let f = fixtures();
    let list = format!(
        "{},{}",
        f.join("slakh/babyslakh_16k").display(),
        f.join("maestro").display()
    );
    h.ok(&["run", "--until", "notes", "--datasets", &list]);

    // Slakh: the stems mixed as YourMT3 mixes them, read straight from the fixture.
    let slakh = SlakhTrack::open(f.join("slakh/babyslakh_16k/Track00001"))
        .unwrap()
        .notes(true)
        .unwrap()
        .notes;
    let args = [
        "--dataset",
        "babyslakh_16k",
        "--track",
        "Track00001",
        "--task",
        "mt3_full_plus",
    ];
    let v = tokenize_json(&h, &args);
    let task = Task::mt3_full_plus();
    let printed = printed_rows(&v);
    assert_eq!(printed.len(), 1, "one segment by default");
    assert_eq!(printed, library_rows(&task, &slakh, 1));
    assert_eq!(v["notes"].as_u64().unwrap(), slakh.len() as u64);
    let first = &printed[0][0];
    assert!(first.len() > 2 && *first.last().unwrap() == EOS);
    assert!(first.iter().all(|&t| usize::from(t) < VOCAB_SIZE));

    // Three segments of both tasks; MAESTRO has no stems (notes as published).
    let (maestro, _) =
        maestro_notes(&std::fs::read(f.join(format!("maestro/2018/{MAESTRO_ID}.midi"))).unwrap())
            .unwrap();
    for task_name in ["mt3_full_plus", "mc13_full_plus_256"] {
        let task = Task::from_name(task_name).unwrap();
        for (ds, track, notes) in [
            ("babyslakh_16k", "Track00001", &slakh),
            ("maestro", MAESTRO_ID, &maestro),
        ] {
            let v = tokenize_json(
                &h,
                &[
                    "--dataset",
                    ds,
                    "--track",
                    track,
                    "--task",
                    task_name,
                    "--segments",
                    "3",
                ],
            );
            assert_eq!(
                printed_rows(&v),
                library_rows(&task, notes, 3),
                "{ds} {task_name}"
            );
        }
    }

    // Text output with --events names the tokens.
    let text = h.ok(&[
        "tokenize",
        "--dataset",
        "babyslakh_16k",
        "--track",
        "Track00001",
        "--task",
        "mt3_full_plus",
        "--events",
    ]);
    let ids: Vec<String> = first.iter().map(Token::to_string).collect();
    assert!(text.contains(&format!("ch0: {}", ids.join(" "))), "{text}");
    let names: Vec<String> = first.iter().map(|&t| amt_symbolic::token_name(t)).collect();
    assert!(text.contains(&names.join(" ")), "{text}");
    assert!(
        names.last().unwrap() == "EOS" || names.last().unwrap() == "eos",
        "{names:?}"
    );
}

#[test]
fn tokenize_errors_name_the_fix() {
    let h = Home::new();
    let err = |args: &[&str]| {
        let out = h.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let base = |ds: &'static str, track: &'static str, task: &'static str| {
        vec![
            "tokenize",
            "--dataset",
            ds,
            "--track",
            track,
            "--task",
            task,
        ]
    };
    let e = err(&base("babyslakh_16k", "Track00001", "mt3_full_plus"));
    assert!(
        e.contains("unknown dataset `babyslakh_16k`")
            && e.contains("amt run --until notes --datasets babyslakh_16k"),
        "{e}"
    );
    let slakh = fixtures().join("slakh/babyslakh_16k");
    // Extract only: the dataset is known, its notes are not built.
    h.ok(&[
        "run",
        "--until",
        "extract",
        "--datasets",
        &slakh.display().to_string(),
    ]);
    let e = err(&base("babyslakh_16k", "Track00001", "mt3_full_plus"));
    assert!(
        e.contains("notes of dataset `babyslakh_16k` are not built")
            && e.contains("amt run --until notes --datasets babyslakh_16k"),
        "{e}"
    );
    h.ok(&["run", "--until", "notes"]);
    let e = err(&base("babyslakh_16k", "Track99", "mt3_full_plus"));
    assert!(
        e.contains("Track99") && e.contains("tracks: Track00001"),
        "{e}"
    );
    let e = err(&base("babyslakh_16k", "Track00001", "mt3"));
    assert!(
        e.contains("unknown task `mt3`") && e.contains("mc13_full_plus_256"),
        "{e}"
    );
    let out = outcomes(&h.ok(&["run", "--json", "--until", "notes"]));
    assert_eq!(out.len(), 2);
}
