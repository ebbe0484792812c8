//! YourMT3 per-track metrics and their aggregation, on hand-computed cases.

use amt_metrics::vocab::{Vocab, drum_vocab, eval_vocab};
use amt_metrics::{MetricAggregator, Note, TrackMetricsConfig, compute_track_metrics};

fn note(program: u8, onset: f64, offset: f64, pitch: u8) -> Note {
    Note {
        is_drum: false,
        program,
        onset,
        offset,
        pitch,
        velocity: 100,
    }
}

fn drum(onset: f64, pitch: u8) -> Note {
    Note {
        is_drum: true,
        program: 128,
        onset,
        offset: onset,
        pitch,
        velocity: 100,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn gm_config() -> TrackMetricsConfig {
    TrackMetricsConfig {
        eval_vocab: Some(eval_vocab("GM_INSTR_CLASS").unwrap()),
        drum_vocab: Some(drum_vocab("ksh").unwrap()),
        add_micro_metric: true,
        add_multi_f_metric: true,
        ..TrackMetricsConfig::default()
    }
}

/// Piano (program 0) and bass (program 33) reference; the estimate gets
/// one piano note right, one piano note's offset wrong, plays the bass line
/// as a guitar (program 25), and adds a spurious piano note.
fn two_instrument_case() -> (Vec<Note>, Vec<Note>) {
    let reference = vec![
        note(0, 0.0, 1.0, 60),  // p1
        note(0, 1.0, 2.0, 64),  // p2
        note(33, 0.0, 2.0, 36), // b1
    ];
    let pred = vec![
        note(0, 0.0, 1.0, 60),  // p1 exact
        note(0, 1.0, 1.5, 64),  // p2: offset 0.5 s off (> 0.2 * 1 s)
        note(25, 0.0, 2.0, 36), // b1 as Guitar: wrong class
        note(0, 3.0, 3.5, 70),  // false positive
    ];
    (pred, reference)
}

#[test]
fn multi_f_two_instruments_by_hand() {
    let (pred, reference) = two_instrument_case();
    let m = compute_track_metrics(&pred, &reference, &gm_config()).unwrap();
    let v = &m.values;
    // Piano: 2 ref, 3 est; onsets match p1, p2 -> P 2/3, R 1, F 0.8;
    // onset+offset matches only p1 -> P 1/3, R 1/2, F 0.4.
    assert!(close(v["onset_f_Piano"], 0.8));
    assert!(close(v["offset_f_Piano"], 0.4));
    // Guitar: no ref, 1 est -> F NaN. Bass: 1 ref, no est -> F 0.
    assert!(v["onset_f_Guitar"].is_nan());
    assert_eq!(v["onset_f_Bass"], 0.0);
    assert!(v["onset_f_Organ"].is_nan());
    // multi_f: TP = 1 (p1, onset+offset+class); n_est = 3 piano + 1 guitar
    // = 4; n_ref = 2 piano + 1 bass = 3. P = 1/4, R = 1/3,
    // F = 2 * (1/4)(1/3) / (1/4 + 1/3) = 2/7.
    assert!(close(v["multi_f"], 2.0 / 7.0), "{}", v["multi_f"]);
    // Instrument-agnostic ignores programs: onsets p1, p2, b1 match
    // (P 3/4, R 1, F 6/7); offsets p1, b1 (P 1/2, R 2/3, F 4/7).
    assert!(close(v["onset_f"], 6.0 / 7.0));
    assert!(close(v["onset_p"], 0.75) && close(v["onset_r"], 1.0));
    assert!(close(v["offset_f"], 4.0 / 7.0));
    assert!(close(v["offset_p"], 0.5) && close(v["offset_r"], 2.0 / 3.0));
    // No drums on either side: drum F is NaN.
    assert!(v["onset_f_drum"].is_nan());
    // Micro weights are the note counts.
    let w = &m.weighted["micro_offset_p_Piano"];
    assert!(close(w.value, 1.0 / 3.0) && w.weight == 3.0);
    assert_eq!(m.weighted["micro_offset_r_Piano"].weight, 2.0);
}

#[test]
fn multi_f_counts_drum_onsets_after_vocab_reduction() {
    let (mut pred, mut reference) = two_instrument_case();
    // Kick 36 vs kick 35 10 ms later: ksh maps both to 36, so they match.
    reference.push(drum(0.5, 36));
    pred.push(drum(0.51, 35));
    // A crash (49) is in no ksh class: dropped from both counts.
    pred.push(drum(1.5, 49));
    let m = compute_track_metrics(&pred, &reference, &gm_config()).unwrap();
    // TP = 1 + 1 drum; n_est = 4 + 1; n_ref = 3 + 1. P = 2/5, R = 1/2,
    // F = 2 * 0.2 / 0.9 = 4/9.
    assert!(
        close(m.values["multi_f"], 4.0 / 9.0),
        "{}",
        m.values["multi_f"]
    );
    assert_eq!(m.values["onset_f_drum"], 1.0);
    assert_eq!(m.weighted["micro_onset_p_drum"].weight, 1.0);
    // Drum notes never enter the instrument-agnostic metric.
    assert!(close(m.values["onset_f"], 6.0 / 7.0));
}

#[test]
fn drum_vocab_copies_into_every_matching_class() {
    // A custom vocab where 42 is in two classes: one reference hi-hat
    // becomes two notes; the estimate hits only the first class's pitch.
    let dv = Vocab::new(
        "test",
        vec![
            ("Hats".to_string(), vec![42, 44]),
            ("Metal".to_string(), vec![49, 42]),
        ],
    );
    let cfg = TrackMetricsConfig {
        drum_vocab: Some(dv),
        add_micro_metric: true,
        ..TrackMetricsConfig::default()
    };
    let m = compute_track_metrics(&[drum(0.0, 44)], &[drum(0.0, 42)], &cfg).unwrap();
    // ref -> {42 (Hats), 49 (Metal)}, est 44 -> {42}: P 1, R 1/2, F 2/3.
    assert!(close(m.values["onset_f_drum"], 2.0 / 3.0));
    assert_eq!(m.weighted["micro_onset_r_drum"].weight, 2.0);
    // Without a vocab, 44 vs 42 is a miss (pitch differs).
    let m = compute_track_metrics(
        &[drum(0.0, 44)],
        &[drum(0.0, 42)],
        &TrackMetricsConfig::default(),
    )
    .unwrap();
    assert_eq!(m.values["onset_f_drum"], 0.0);
}

#[test]
fn empty_rules_follow_yourmt3() {
    let cfg = TrackMetricsConfig::default();
    let one = [note(0, 0.0, 1.0, 60)];
    // Neither side has notes: everything NaN.
    let m = compute_track_metrics(&[], &[], &cfg).unwrap();
    for k in [
        "onset_f",
        "offset_f",
        "onset_p",
        "onset_r",
        "offset_p",
        "offset_r",
        "onset_f_drum",
    ] {
        assert!(m.values[k].is_nan(), "{k}");
    }
    // No reference: F NaN, P 0, R NaN.
    let m = compute_track_metrics(&one, &[], &cfg).unwrap();
    assert!(m.values["onset_f"].is_nan() && m.values["offset_f"].is_nan());
    assert_eq!(m.values["onset_p"], 0.0);
    assert!(m.values["onset_r"].is_nan());
    // No estimate: F 0, P NaN, R 0.
    let m = compute_track_metrics(&[], &one, &cfg).unwrap();
    assert_eq!((m.values["onset_f"], m.values["offset_f"]), (0.0, 0.0));
    assert!(m.values["onset_p"].is_nan());
    assert_eq!(m.values["onset_r"], 0.0);
    // Without an eval vocab there are no class metrics and no multi_f.
    assert!(!m.values.contains_key("multi_f"));
    assert!(!m.values.keys().any(|k| k.starts_with("onset_f_P")));
}

#[test]
fn pitch_class_metric_forgives_octave_errors() {
    let cfg = TrackMetricsConfig {
        eval_vocab: Some(eval_vocab("BASS_SOLO").unwrap()),
        pitch_class_metric: vec!["bass".to_string()],
        ..TrackMetricsConfig::default()
    };
    let reference = [note(33, 0.0, 1.0, 40)];
    let pred = [note(33, 0.0, 1.0, 52)];
    let m = compute_track_metrics(&pred, &reference, &cfg).unwrap();
    assert_eq!(m.values["onset_f_Bass"], 0.0);
    assert_eq!(m.values["onset_f_Bass_pc"], 1.0);
    assert_eq!(m.values["offset_f_Bass_pc"], 1.0);
    // A semitone error is not forgiven.
    let m = compute_track_metrics(&[note(33, 0.0, 1.0, 53)], &reference, &cfg).unwrap();
    assert_eq!(m.values["onset_f_Bass_pc"], 0.0);
}

#[test]
fn frame_f_by_hand() {
    let cfg = TrackMetricsConfig {
        add_frame_metric: true,
        ..TrackMetricsConfig::default()
    };
    // Ref C4 for 1 s = 16 frames. Est C4 for 0.5 s (8 frames) and C5 for
    // 1 s (16 frames). TP = 8, n_est = 24, n_ref = 16: P 1/3, R 1/2, F 0.4.
    // Chroma: C5 counts as C, one per frame -> TP 16: P 2/3, R 1, F 0.8.
    let reference = [note(0, 0.0, 1.0, 60)];
    let pred = [note(0, 0.0, 0.5, 60), note(0, 0.0, 1.0, 72)];
    let m = compute_track_metrics(&pred, &reference, &cfg).unwrap();
    assert!(close(m.values["frame_f"], 0.4), "{}", m.values["frame_f"]);
    assert!(
        close(m.values["frame_f_pc"], 0.8),
        "{}",
        m.values["frame_f_pc"]
    );
    // Empty estimate: 0; empty reference: NaN.
    let m = compute_track_metrics(&[], &reference, &cfg).unwrap();
    assert_eq!((m.values["frame_f"], m.values["frame_f_pc"]), (0.0, 0.0));
    let m = compute_track_metrics(&pred, &[], &cfg).unwrap();
    assert!(m.values["frame_f"].is_nan());
    // Pitches outside 16..110 never reach the roll: the reference is empty.
    let m = compute_track_metrics(&pred, &[note(0, 0.0, 1.0, 110)], &cfg).unwrap();
    assert!(m.values["frame_f_pc"].is_nan());
}

#[test]
fn aggregator_macro_and_micro() {
    let cfg = TrackMetricsConfig {
        eval_vocab: Some(eval_vocab("PIANO_SOLO").unwrap()),
        add_micro_metric: true,
        ..TrackMetricsConfig::default()
    };
    // Track A: 2 ref, 3 est, 2 onset matches: F 0.8, P 2/3 (w 3), R 1 (w 2).
    let ref_a = [note(0, 0.0, 1.0, 60), note(0, 1.0, 2.0, 64)];
    let est_a = [
        note(1, 0.0, 1.0, 60),
        note(2, 1.0, 2.0, 64),
        note(3, 3.0, 4.0, 70),
    ];
    // Track B: 1 ref, no est: F 0, P NaN (w 0), R 0 (w 1).
    let ref_b = [note(0, 0.0, 1.0, 60)];
    // Track C: nothing at all: F NaN, ignored by the macro mean.
    let mut agg = MetricAggregator::new();
    for (e, r) in [
        (&est_a[..], &ref_a[..]),
        (&[][..], &ref_b[..]),
        (&[][..], &[][..]),
    ] {
        agg.add_track(&compute_track_metrics(e, r, &cfg).unwrap());
    }
    let out = agg.compute();
    // Macro: mean(0.8, 0) = 0.4 (Track C's NaN ignored).
    assert!(close(out["onset_f_Piano"], 0.4));
    // Micro: P = (2/3 * 3) / 3 = 2/3; R = (1 * 2 + 0 * 1) / 3 = 2/3; F = 2/3.
    assert!(close(out["micro_onset_f_Piano"], 2.0 / 3.0));
    assert!(!out.contains_key("micro_onset_p_Piano"));
    assert!(out.contains_key("micro_offset_f_Piano"));
}

#[test]
fn invalid_notes_are_rejected_with_their_index() {
    let bad = [note(0, 0.0, 1.0, 60), note(0, 2.0, 2.0, 60)];
    let e = compute_track_metrics(&bad, &[], &TrackMetricsConfig::default()).unwrap_err();
    assert!(e.to_string().contains("estimated interval 1"), "{e}");
    // Drum offsets are irrelevant (scored as onset + 8 ms).
    assert!(compute_track_metrics(&[drum(1.0, 36)], &[], &TrackMetricsConfig::default()).is_ok());
}
