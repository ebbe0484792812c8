//! Note metrics with velocity, equal to `mir_eval.transcription_velocity`.
//!
//! Notes are matched as in [`crate::transcription::match_notes`]; reference
//! velocities are scaled to [0, 1], estimated velocities of the matched pairs
//! are fitted to them by least squares, and a pair survives only if the
//! fitted error is strictly below `velocity_tolerance`. Because the fit uses
//! the chosen matching, the tie-breaking of [`crate::matching`] matters here.

use std::collections::BTreeMap;

use crate::error::{Error, Result, Side};
use crate::transcription::{self, Interval, Match, NoteMatchParams, PrfOverlap};

/// mir_eval's default velocity tolerance.
pub const DEFAULT_VELOCITY_TOLERANCE: f64 = 0.1;

/// `transcription_velocity.validate`: the note checks plus one velocity per
/// note, each >= 0.
pub fn validate(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    ref_velocities: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    est_velocities: &[f64],
) -> Result<()> {
    transcription::validate(ref_intervals, ref_pitches, est_intervals, est_pitches)?;
    for (side, n, vel) in [
        (Side::Reference, ref_intervals.len(), ref_velocities),
        (Side::Estimate, est_intervals.len(), est_velocities),
    ] {
        if vel.len() != n {
            return Err(Error::LengthMismatch {
                side,
                what: "velocities",
                expected: n,
                found: vel.len(),
            });
        }
        if let Some((index, &value)) = vel
            .iter()
            .enumerate()
            .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
        {
            return Err(Error::InvalidVelocity { side, index, value });
        }
    }
    Ok(())
}

/// Least-squares `(slope, intercept)` of `y ~ slope * x + intercept`, with
/// the minimum-norm solution when all `x` are equal (what `np.linalg.lstsq`
/// returns for the rank-deficient case).
fn fit_line(x: &[f64], y: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    if sxx == 0.0 {
        let c = mx;
        let scale = my / (c * c + 1.0);
        return (c * scale, scale);
    }
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = sxy / sxx;
    (slope, my - slope * mx)
}

/// `transcription_velocity.match_notes`: the note matching, then only the
/// pairs whose rescaled velocities agree within `velocity_tolerance`.
#[allow(clippy::too_many_arguments)] // mirrors mir_eval's parallel arrays
pub fn match_notes(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    ref_velocities: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    est_velocities: &[f64],
    params: &NoteMatchParams,
    velocity_tolerance: f64,
) -> Result<Vec<Match>> {
    let matching = transcription::match_notes(
        ref_intervals,
        ref_pitches,
        est_intervals,
        est_pitches,
        params,
    )?;
    if matching.is_empty() || ref_velocities.is_empty() {
        return Ok(Vec::new());
    }
    let min_v = ref_velocities.iter().copied().fold(f64::INFINITY, f64::min);
    let max_v = ref_velocities
        .iter()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    let range = (max_v - min_v).max(1.0);
    let ref_matched: Vec<f64> = matching
        .iter()
        .map(|&(i, _)| (ref_velocities[i] - min_v) / range)
        .collect();
    let est_matched: Vec<f64> = matching.iter().map(|&(_, j)| est_velocities[j]).collect();
    let (slope, intercept) = fit_line(&est_matched, &ref_matched);
    Ok(matching
        .into_iter()
        .zip(est_matched.iter().zip(&ref_matched))
        .filter(|(_, (e, r))| ((slope * **e + intercept) - **r).abs() < velocity_tolerance)
        .map(|(m, _)| m)
        .collect())
}

/// `transcription_velocity.precision_recall_f1_overlap`.
#[allow(clippy::too_many_arguments)] // mirrors mir_eval's parallel arrays
pub fn precision_recall_f1_overlap(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    ref_velocities: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    est_velocities: &[f64],
    params: &NoteMatchParams,
    velocity_tolerance: f64,
) -> Result<PrfOverlap> {
    validate(
        ref_intervals,
        ref_pitches,
        ref_velocities,
        est_intervals,
        est_pitches,
        est_velocities,
    )?;
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
        ref_velocities,
        est_intervals,
        est_pitches,
        est_velocities,
        params,
        velocity_tolerance,
    )?;
    Ok(transcription::prf_overlap(
        ref_intervals,
        est_intervals,
        &matching,
        params.beta,
    ))
}

/// `transcription_velocity.evaluate` with default parameters.
pub fn evaluate(
    ref_intervals: &[Interval],
    ref_pitches: &[f64],
    ref_velocities: &[f64],
    est_intervals: &[Interval],
    est_pitches: &[f64],
    est_velocities: &[f64],
) -> Result<BTreeMap<&'static str, f64>> {
    let mut s = BTreeMap::new();
    let names = [
        (
            NoteMatchParams::default(),
            ["Precision", "Recall", "F-measure", "Average_Overlap_Ratio"],
        ),
        (
            NoteMatchParams::onset_only(),
            [
                "Precision_no_offset",
                "Recall_no_offset",
                "F-measure_no_offset",
                "Average_Overlap_Ratio_no_offset",
            ],
        ),
    ];
    for (params, keys) in names {
        let r = precision_recall_f1_overlap(
            ref_intervals,
            ref_pitches,
            ref_velocities,
            est_intervals,
            est_pitches,
            est_velocities,
            &params,
            DEFAULT_VELOCITY_TOLERANCE,
        )?;
        for (k, v) in
            keys.into_iter()
                .zip([r.precision, r.recall, r.f_measure, r.avg_overlap_ratio])
        {
            s.insert(k, v);
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_line_exact_and_degenerate() {
        let (s, b) = fit_line(&[0.0, 1.0, 2.0], &[1.0, 3.0, 5.0]);
        assert!((s - 2.0).abs() < 1e-12 && (b - 1.0).abs() < 1e-12);
        // All x equal: min-norm solution of [c, 1] . [s, b] = mean(y).
        let (s, b) = fit_line(&[2.0, 2.0], &[0.5, 1.5]);
        assert!((s * 2.0 + b - 1.0).abs() < 1e-12);
        assert!((s - 0.4).abs() < 1e-12 && (b - 0.2).abs() < 1e-12);
    }

    #[test]
    fn mir_eval_unit_example() {
        // mir_eval's own unit test: the middle note's velocity is off by 20
        // of a 100 range, outside 0.1 but inside 0.3.
        let iv = [[0.0, 1.0], [0.5, 0.7], [1.0, 2.0]];
        let p = [100.0, 110.0, 80.0];
        let rv = [10.0, 90.0, 110.0];
        let ev = [10.0, 70.0, 110.0];
        let d = NoteMatchParams::default();
        let r = precision_recall_f1_overlap(&iv, &p, &rv, &iv, &p, &ev, &d, 0.1).unwrap();
        assert!((r.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.f_measure - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.avg_overlap_ratio - 1.0).abs() < 1e-12);
        let r = precision_recall_f1_overlap(&iv, &p, &rv, &iv, &p, &ev, &d, 0.3).unwrap();
        assert_eq!((r.precision, r.recall), (1.0, 1.0));
    }
}
