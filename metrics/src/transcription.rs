//! Note-level transcription metrics equal to `mir_eval.transcription`.
//!
//! Matching semantics follow mir_eval exactly: onset and offset distances
//! are rounded to 4 decimals (`np.around`, half to even) before the
//! comparison, so an onset exactly 50 ms off matches despite float noise;
//! pitch distances in cents are *not* rounded; comparisons use `<=` unless
//! `strict`. Candidate pairs come from binary searches over sorted times
//! rather than a dense (n x m) matrix, so large tracks stay fast.

use std::collections::BTreeMap;

use crate::error::{Error, Result, Side};
use crate::matching::{HitGraph, SortedIndex};
use crate::util::{f_measure, np_mean};

/// One note's `[onset, offset]` in seconds.
pub type Interval = [f64; 2];

/// A `(reference index, estimate index)` pair of matched notes.
pub type Match = (usize, usize);

/// Decimals kept by mir_eval before comparing time distances.
pub const N_DECIMALS: i32 = 4;

/// Extra search margin around each tolerance window: rounding to 4 decimals
/// can pull a distance down by up to 5e-5, so the exact test decides.
const WINDOW_MARGIN: f64 = 1e-3;

/// Tolerances of `mir_eval.transcription.precision_recall_f1_overlap`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteMatchParams {
    /// Onset tolerance in seconds (mir_eval default 0.05).
    pub onset_tolerance: f64,
    /// Pitch tolerance in cents (default 50).
    pub pitch_tolerance: f64,
    /// Offset tolerance as a ratio of the reference duration; `None` ignores
    /// offsets (default `Some(0.2)`).
    pub offset_ratio: Option<f64>,
    /// Lower bound of the offset tolerance in seconds (default 0.05).
    pub offset_min_tolerance: f64,
    /// Use `<` instead of `<=` for every threshold.
    pub strict: bool,
    /// F-measure weight (default 1).
    pub beta: f64,
}

impl Default for NoteMatchParams {
    fn default() -> Self {
        Self {
            onset_tolerance: 0.05,
            pitch_tolerance: 50.0,
            offset_ratio: Some(0.2),
            offset_min_tolerance: 0.05,
            strict: false,
            beta: 1.0,
        }
    }
}

impl NoteMatchParams {
    /// Defaults with offsets ignored (mir_eval's "no_offset" metrics).
    pub fn onset_only() -> Self {
        Self {
            offset_ratio: None,
            ..Self::default()
        }
    }
}

/// Precision, recall, F-measure and average overlap ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrfOverlap {
    pub precision: f64,
    pub recall: f64,
    pub f_measure: f64,
    pub avg_overlap_ratio: f64,
}

/// Precision, recall and F-measure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f_measure: f64,
}

/// `np.around(x, 4)`: scale, round half to even, unscale.
fn round_distance(x: f64) -> f64 {
    let scale = 10f64.powi(N_DECIMALS); // exactly 10000.0, like numpy's
    (x * scale).round_ties_even() / scale
}

fn within(distance: f64, tolerance: f64, strict: bool) -> bool {
    if strict {
        distance < tolerance
    } else {
        distance <= tolerance
    }
}

/// One pitch per interval on both sides.
fn check_pitch_lengths(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
) -> Result<()> {
    check_len(
        Side::Reference,
        "pitches",
        ref_intervals.len(),
        ref_pitches.len(),
    )?;
    check_len(
        Side::Estimate,
        "pitches",
        est_intervals.len(),
        est_pitches.len(),
    )
}

fn check_len(side: Side, what: &'static str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::LengthMismatch {
            side,
            what,
            expected,
            found,
        })
    }
}

fn validate_side_intervals(side: Side, intervals: &[Interval]) -> Result<()> {
    for (index, &[onset, offset]) in intervals.iter().enumerate() {
        let ok = onset.is_finite() && offset.is_finite() && onset >= 0.0 && offset > onset;
        if !ok {
            return Err(Error::InvalidInterval {
                side,
                index,
                onset,
                offset,
            });
        }
    }
    Ok(())
}

/// mir_eval's interval checks: times >= 0, strictly positive durations
/// (plus finiteness, which mir_eval does not check).
pub fn validate_intervals(ref_intervals: &[Interval], est_intervals: &[Interval]) -> Result<()> {
    validate_side_intervals(Side::Reference, ref_intervals)?;
    validate_side_intervals(Side::Estimate, est_intervals)
}

/// mir_eval's `transcription.validate`: valid intervals, one pitch per
/// interval, pitches > 0 Hz.
pub fn validate(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
) -> Result<()> {
    validate_intervals(ref_intervals, est_intervals)?;
    check_pitch_lengths(ref_intervals, ref_pitches, est_intervals, est_pitches)?;
    for (side, pitches) in [
        (Side::Reference, ref_pitches),
        (Side::Estimate, est_pitches),
    ] {
        if let Some((index, &value)) = pitches
            .iter()
            .enumerate()
            .find(|(_, p)| !(p.is_finite() && **p > 0.0))
        {
            return Err(Error::InvalidPitch { side, index, value });
        }
    }
    Ok(())
}

/// Builds the hit graph row by row: for each reference, the estimates inside
/// a search window over `key` (sorted), filtered by `hit`, ascending.
fn build_graph(
    n_ref: usize,
    n_est: usize,
    est_keys: impl Iterator<Item = f64>,
    mut window: impl FnMut(usize) -> (f64, f64),
    mut hit: impl FnMut(usize, usize) -> bool,
) -> HitGraph {
    let index = SortedIndex::new(est_keys);
    let mut graph = HitGraph::new(n_ref, n_est);
    let mut row = Vec::new();
    for i in 0..n_ref {
        let (lo, hi) = window(i);
        row.clear();
        row.extend(index.within(lo, hi).iter().copied().filter(|&j| hit(i, j)));
        row.sort_unstable();
        graph.push_row(i, &row);
    }
    graph
}

/// Offset tolerance of reference note `i`: `max(ratio * duration, min)`.
fn offset_tolerance(interval: &Interval, ratio: f64, min_tolerance: f64) -> f64 {
    let duration = (interval[1] - interval[0]).abs();
    (ratio * duration).max(min_tolerance)
}

/// Maximum matching under onset, pitch and (optionally) offset constraints,
/// as `mir_eval.transcription.match_notes`. Pairs are sorted by reference.
pub fn match_notes(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    params: &NoteMatchParams,
) -> Result<Vec<Match>> {
    check_pitch_lengths(ref_intervals, ref_pitches, est_intervals, est_pitches)?;
    Ok(match_notes_impl(
        ref_intervals,
        ref_pitches,
        est_intervals,
        est_pitches,
        params,
        false,
    ))
}

/// `dense` scans every pair (the O(n*m) definition); tests use it to check
/// that the windowed search finds exactly the same edges.
fn match_notes_impl(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    params: &NoteMatchParams,
    dense: bool,
) -> Vec<Match> {
    let ref_log2: Vec<f64> = ref_pitches.iter().map(|p| p.log2()).collect();
    let est_log2: Vec<f64> = est_pitches.iter().map(|p| p.log2()).collect();
    let p = *params;
    let reach = p.onset_tolerance + WINDOW_MARGIN;
    let graph = build_graph(
        ref_intervals.len(),
        est_intervals.len(),
        est_intervals.iter().map(|iv| iv[0]),
        |i| {
            if dense {
                (f64::NEG_INFINITY, f64::INFINITY)
            } else {
                (ref_intervals[i][0] - reach, ref_intervals[i][0] + reach)
            }
        },
        |i, j| {
            let r = &ref_intervals[i];
            let e = &est_intervals[j];
            if !within(
                round_distance((r[0] - e[0]).abs()),
                p.onset_tolerance,
                p.strict,
            ) {
                return false;
            }
            let cents = (1200.0 * (ref_log2[i] - est_log2[j])).abs();
            if !within(cents, p.pitch_tolerance, p.strict) {
                return false;
            }
            match p.offset_ratio {
                None => true,
                Some(ratio) => within(
                    round_distance((r[1] - e[1]).abs()),
                    offset_tolerance(r, ratio, p.offset_min_tolerance),
                    p.strict,
                ),
            }
        },
    );
    graph.maximum_matching()
}

/// Maximum matching on onsets only, as `match_note_onsets`.
pub fn match_note_onsets(
    ref_intervals: &[Interval],
    est_intervals: &[Interval],
    onset_tolerance: f64,
    strict: bool,
) -> Vec<Match> {
    let reach = onset_tolerance + WINDOW_MARGIN;
    build_graph(
        ref_intervals.len(),
        est_intervals.len(),
        est_intervals.iter().map(|iv| iv[0]),
        |i| (ref_intervals[i][0] - reach, ref_intervals[i][0] + reach),
        |i, j| {
            let d = round_distance((ref_intervals[i][0] - est_intervals[j][0]).abs());
            within(d, onset_tolerance, strict)
        },
    )
    .maximum_matching()
}

/// Maximum matching on offsets only, as `match_note_offsets`.
pub fn match_note_offsets(
    ref_intervals: &[Interval],
    est_intervals: &[Interval],
    offset_ratio: f64,
    offset_min_tolerance: f64,
    strict: bool,
) -> Vec<Match> {
    let tolerances: Vec<f64> = ref_intervals
        .iter()
        .map(|r| offset_tolerance(r, offset_ratio, offset_min_tolerance))
        .collect();
    build_graph(
        ref_intervals.len(),
        est_intervals.len(),
        est_intervals.iter().map(|iv| iv[1]),
        |i| {
            let reach = tolerances[i] + WINDOW_MARGIN;
            (ref_intervals[i][1] - reach, ref_intervals[i][1] + reach)
        },
        |i, j| {
            let d = round_distance((ref_intervals[i][1] - est_intervals[j][1]).abs());
            within(d, tolerances[i], strict)
        },
    )
    .maximum_matching()
}

/// Mean over matched pairs of overlap / span; 0 when nothing matched.
pub fn average_overlap_ratio(
    ref_intervals: &[Interval],
    est_intervals: &[Interval],
    matching: &[Match],
) -> f64 {
    if matching.is_empty() {
        return 0.0;
    }
    let ratios: Vec<f64> = matching
        .iter()
        .map(|&(i, j)| {
            let r = ref_intervals[i];
            let e = est_intervals[j];
            (r[1].min(e[1]) - r[0].max(e[0])) / (r[1].max(e[1]) - r[0].min(e[0]))
        })
        .collect();
    np_mean(&ratios)
}

/// `mir_eval.transcription.precision_recall_f1_overlap`. Returns all zeros
/// when either side is empty, as mir_eval does (YourMT3's NaN rules live in
/// [`crate::track`]).
pub fn precision_recall_f1_overlap(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    params: &NoteMatchParams,
) -> Result<PrfOverlap> {
    validate(ref_intervals, ref_pitches, est_intervals, est_pitches)?;
    if ref_pitches.is_empty() || est_pitches.is_empty() {
        return Ok(PrfOverlap {
            precision: 0.0,
            recall: 0.0,
            f_measure: 0.0,
            avg_overlap_ratio: 0.0,
        });
    }
    let matching = match_notes(
        ref_intervals,
        ref_pitches,
        est_intervals,
        est_pitches,
        params,
    )?;
    Ok(prf_overlap(
        ref_intervals,
        est_intervals,
        &matching,
        params.beta,
    ))
}

pub(crate) fn prf_overlap(
    ref_intervals: &[Interval],
    est_intervals: &[Interval],
    matching: &[Match],
    beta: f64,
) -> PrfOverlap {
    let precision = matching.len() as f64 / est_intervals.len() as f64;
    let recall = matching.len() as f64 / ref_intervals.len() as f64;
    PrfOverlap {
        precision,
        recall,
        f_measure: f_measure(precision, recall, beta),
        avg_overlap_ratio: average_overlap_ratio(ref_intervals, est_intervals, matching),
    }
}

fn prf(n_ref: usize, n_est: usize, n_matched: usize, beta: f64) -> Prf {
    let precision = n_matched as f64 / n_est as f64;
    let recall = n_matched as f64 / n_ref as f64;
    Prf {
        precision,
        recall,
        f_measure: f_measure(precision, recall, beta),
    }
}

const ZERO_PRF: Prf = Prf {
    precision: 0.0,
    recall: 0.0,
    f_measure: 0.0,
};

/// `mir_eval.transcription.onset_precision_recall_f1`: onsets only, pitch
/// and offsets ignored.
pub fn onset_precision_recall_f1(
    ref_intervals: &[Interval],
    est_intervals: &[Interval],
    onset_tolerance: f64,
    strict: bool,
    beta: f64,
) -> Result<Prf> {
    validate_intervals(ref_intervals, est_intervals)?;
    if ref_intervals.is_empty() || est_intervals.is_empty() {
        return Ok(ZERO_PRF);
    }
    let m = match_note_onsets(ref_intervals, est_intervals, onset_tolerance, strict);
    Ok(prf(ref_intervals.len(), est_intervals.len(), m.len(), beta))
}

/// `mir_eval.transcription.offset_precision_recall_f1`: offsets only.
pub fn offset_precision_recall_f1(
    ref_intervals: &[Interval],
    est_intervals: &[Interval],
    offset_ratio: f64,
    offset_min_tolerance: f64,
    strict: bool,
    beta: f64,
) -> Result<Prf> {
    validate_intervals(ref_intervals, est_intervals)?;
    if ref_intervals.is_empty() || est_intervals.is_empty() {
        return Ok(ZERO_PRF);
    }
    let m = match_note_offsets(
        ref_intervals,
        est_intervals,
        offset_ratio,
        offset_min_tolerance,
        strict,
    );
    Ok(prf(ref_intervals.len(), est_intervals.len(), m.len(), beta))
}

/// `mir_eval.transcription.evaluate` with default parameters, keyed by
/// mir_eval's score names.
pub fn evaluate(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
) -> Result<BTreeMap<&'static str, f64>> {
    let d = NoteMatchParams::default();
    let mut s = BTreeMap::new();
    let with =
        precision_recall_f1_overlap(ref_intervals, ref_pitches, est_intervals, est_pitches, &d)?;
    s.insert("Precision", with.precision);
    s.insert("Recall", with.recall);
    s.insert("F-measure", with.f_measure);
    s.insert("Average_Overlap_Ratio", with.avg_overlap_ratio);
    let no = precision_recall_f1_overlap(
        ref_intervals,
        ref_pitches,
        est_intervals,
        est_pitches,
        &NoteMatchParams::onset_only(),
    )?;
    s.insert("Precision_no_offset", no.precision);
    s.insert("Recall_no_offset", no.recall);
    s.insert("F-measure_no_offset", no.f_measure);
    s.insert("Average_Overlap_Ratio_no_offset", no.avg_overlap_ratio);
    let on = onset_precision_recall_f1(
        ref_intervals,
        est_intervals,
        d.onset_tolerance,
        d.strict,
        d.beta,
    )?;
    s.insert("Onset_Precision", on.precision);
    s.insert("Onset_Recall", on.recall);
    s.insert("Onset_F-measure", on.f_measure);
    let off = offset_precision_recall_f1(
        ref_intervals,
        est_intervals,
        0.2,
        d.offset_min_tolerance,
        d.strict,
        d.beta,
    )?;
    s.insert("Offset_Precision", off.precision);
    s.insert("Offset_Recall", off.recall);
    s.insert("Offset_F-measure", off.f_measure);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64 in [0, 1).
    fn rng(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn windowed_search_equals_dense_scan() {
        let mut s = 0x1234_5678_9abc_def1u64;
        for round in 0..20 {
            // Times on a 10 ms grid so many distances sit exactly on the
            // 50 ms boundary (where the 4-decimal rounding decides).
            let notes = |n: usize, s: &mut u64| -> (Vec<Interval>, Vec<f64>) {
                (0..n)
                    .map(|_| {
                        let on = (rng(s) * 300.0).floor() / 100.0;
                        let off = on + 0.01 + (rng(s) * 60.0).floor() / 100.0;
                        let pitch = 440.0 * 2f64.powf((rng(s) * 6.0).floor() / 12.0);
                        ([on, off], pitch)
                    })
                    .unzip()
            };
            let (ri, rp) = notes(150, &mut s);
            let (ei, ep) = notes(170, &mut s);
            let mut params = NoteMatchParams::default();
            if round % 2 == 1 {
                params.offset_ratio = None;
            }
            params.strict = round % 4 == 3;
            let fast = match_notes_impl(&ri, &rp, &ei, &ep, &params, false);
            let dense = match_notes_impl(&ri, &rp, &ei, &ep, &params, true);
            assert!(!fast.is_empty());
            assert_eq!(fast, dense, "round {round}");
        }
    }

    #[test]
    fn rounding_is_half_to_even_at_four_decimals() {
        assert_eq!(round_distance(0.05), 0.05);
        // 0.05 + 4e-17 style noise from subtraction still rounds to 0.05.
        assert_eq!(round_distance(1.15 - 1.1), 0.05);
        assert_eq!(round_distance(0.050_049), 0.05);
        assert_eq!(round_distance(0.050_051), 0.0501);
    }
}
