//! Hand-made edge cases of the mir_eval-equal note metrics.

use amt_metrics::transcription::{match_note_offsets, match_note_onsets, match_notes};
use amt_metrics::{
    Error, NoteMatchParams, Side, offset_precision_recall_f1, onset_precision_recall_f1,
    precision_recall_f1_overlap,
};

const A4: f64 = 440.0;

fn cents_above(hz: f64, cents: f64) -> f64 {
    hz * 2f64.powf(cents / 1200.0)
}

fn n_matched(r: &[[f64; 2]], rp: &[f64], e: &[[f64; 2]], ep: &[f64], p: &NoteMatchParams) -> usize {
    match_notes(r, rp, e, ep, p).unwrap().len()
}

#[test]
fn onset_exactly_at_tolerance_matches_unless_strict() {
    let r = [[1.0, 2.0]];
    // 1.05 - 1.0 = 0.050000000000000044 in f64; rounding to 4 decimals makes
    // it exactly 0.05, so `<=` accepts it.
    let on = NoteMatchParams::onset_only();
    assert_eq!(n_matched(&r, &[A4], &[[1.05, 2.0]], &[A4], &on), 1);
    assert_eq!(n_matched(&r, &[A4], &[[0.95, 2.0]], &[A4], &on), 1);
    let strict = NoteMatchParams { strict: true, ..on };
    assert_eq!(n_matched(&r, &[A4], &[[1.05, 2.0]], &[A4], &strict), 0);
    // 50.04 ms rounds to 50.0 ms (match); 50.1 ms does not.
    assert_eq!(n_matched(&r, &[A4], &[[1.050_04, 2.0]], &[A4], &on), 1);
    assert_eq!(n_matched(&r, &[A4], &[[1.0501, 2.0]], &[A4], &on), 0);
    // Onset-only metric agrees and ignores pitch.
    let prf = onset_precision_recall_f1(&r, &[[1.05, 3.0]], 0.05, false, 1.0).unwrap();
    assert_eq!((prf.precision, prf.recall, prf.f_measure), (1.0, 1.0, 1.0));
    let prf = onset_precision_recall_f1(&r, &[[1.0501, 3.0]], 0.05, false, 1.0).unwrap();
    assert_eq!(prf.f_measure, 0.0);
}

#[test]
fn offset_exactly_at_ratio_bound() {
    let d = NoteMatchParams::default();
    // Duration 1 s: tolerance max(0.2 * 1, 0.05) = 0.2 s.
    let r = [[0.0, 1.0]];
    assert_eq!(n_matched(&r, &[A4], &[[0.0, 1.2]], &[A4], &d), 1);
    assert_eq!(n_matched(&r, &[A4], &[[0.0, 0.8]], &[A4], &d), 1);
    assert_eq!(n_matched(&r, &[A4], &[[0.0, 1.2001]], &[A4], &d), 0);
    // Duration 0.1 s: 0.2 * 0.1 = 0.02 < 0.05, so the 50 ms floor applies.
    let short = [[0.0, 0.1]];
    assert_eq!(n_matched(&short, &[A4], &[[0.0, 0.15]], &[A4], &d), 1);
    assert_eq!(n_matched(&short, &[A4], &[[0.0, 0.1501]], &[A4], &d), 0);
    // Offset-only metric uses the same tolerance and ignores onsets.
    let prf = offset_precision_recall_f1(&r, &[[0.9, 1.2]], 0.2, 0.05, false, 1.0).unwrap();
    assert_eq!(prf.f_measure, 1.0);
    assert!(match_note_offsets(&r, &[[0.9, 1.2]], 0.2, 0.05, true).is_empty());
    // Offsets are ignored with offset_ratio = None.
    let on = NoteMatchParams::onset_only();
    assert_eq!(n_matched(&r, &[A4], &[[0.0, 5.0]], &[A4], &on), 1);
}

#[test]
fn pitch_49_cents_matches_51_does_not() {
    let r = [[0.0, 1.0]];
    let on = NoteMatchParams::onset_only();
    for (cents, want) in [(49.0, 1), (-49.0, 1), (51.0, 0), (-51.0, 0)] {
        let e = [cents_above(A4, cents)];
        assert_eq!(n_matched(&r, &[A4], &r, &e, &on), want, "{cents} cents");
    }
    // A custom tolerance moves the bound.
    let wide = NoteMatchParams {
        pitch_tolerance: 60.0,
        ..on
    };
    assert_eq!(n_matched(&r, &[A4], &r, &[cents_above(A4, 51.0)], &wide), 1);
}

#[test]
fn duplicate_estimates_count_once() {
    let r = [[0.0, 1.0]];
    let e = [[0.0, 1.0], [0.01, 1.0]];
    let s =
        precision_recall_f1_overlap(&r, &[A4], &e, &[A4, A4], &NoteMatchParams::default()).unwrap();
    assert_eq!((s.precision, s.recall), (0.5, 1.0));
    assert!((s.f_measure - 2.0 / 3.0).abs() < 1e-15);
    // The matched estimate is the exact copy (mir_eval's tie-breaking).
    assert_eq!(s.avg_overlap_ratio, 1.0);
    assert_eq!(match_note_onsets(&r, &e, 0.05, false), vec![(0, 0)]);
}

#[test]
fn maximum_matching_not_greedy() {
    // est0 (0.04 s) can serve ref0 (0.00) or ref1 (0.08); est1 (0.00) only
    // ref0. Greedy est0 -> ref0 would leave 1 match; the maximum is 2.
    let r = [[0.0, 1.0], [0.08, 1.0]];
    let e = [[0.04, 1.0], [0.0, 1.0]];
    let m = match_notes(&r, &[A4, A4], &e, &[A4, A4], &NoteMatchParams::onset_only()).unwrap();
    assert_eq!(m, vec![(0, 1), (1, 0)]);
}

#[test]
fn empty_lists_give_zeros_like_mir_eval() {
    let r = [[0.0, 1.0]];
    let d = NoteMatchParams::default();
    for (ri, rp, ei, ep) in [
        (&r[..], &[A4][..], &[][..], &[][..]),
        (&[][..], &[][..], &r[..], &[A4][..]),
        (&[][..], &[][..], &[][..], &[][..]),
    ] {
        let s = precision_recall_f1_overlap(ri, rp, ei, ep, &d).unwrap();
        assert_eq!(
            (s.precision, s.recall, s.f_measure, s.avg_overlap_ratio),
            (0.0, 0.0, 0.0, 0.0)
        );
        let o = onset_precision_recall_f1(ri, ei, 0.05, false, 1.0).unwrap();
        assert_eq!(o.f_measure, 0.0);
    }
}

#[test]
fn average_overlap_ratio_by_hand() {
    // ref [0, 1], est [0.02, 0.9]: overlap 0.88, span 1.0 -> 0.88.
    let s = precision_recall_f1_overlap(
        &[[0.0, 1.0]],
        &[A4],
        &[[0.02, 0.9]],
        &[A4],
        &NoteMatchParams::onset_only(),
    )
    .unwrap();
    assert!((s.avg_overlap_ratio - 0.88).abs() < 1e-12);
}

#[test]
fn invalid_input_is_rejected_with_context() {
    let d = NoteMatchParams::default();
    let e = precision_recall_f1_overlap(&[[1.0, 1.0]], &[A4], &[], &[], &d).unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidInterval {
            side: Side::Reference,
            index: 0,
            ..
        }
    ));
    let e =
        precision_recall_f1_overlap(&[[0.0, 1.0]], &[A4], &[[0.0, 1.0]], &[-1.0], &d).unwrap_err();
    assert!(e.to_string().contains("estimated pitch 0"), "{e}");
    let e = precision_recall_f1_overlap(&[[0.0, 1.0]], &[], &[], &[], &d).unwrap_err();
    assert!(matches!(
        e,
        Error::LengthMismatch {
            expected: 1,
            found: 0,
            ..
        }
    ));
    let e = precision_recall_f1_overlap(&[[f64::NAN, 1.0]], &[A4], &[], &[], &d).unwrap_err();
    assert!(matches!(e, Error::InvalidInterval { .. }));
}
