//! YourMT3's per-track metrics (`utils/metrics.py::compute_track_metrics`).
//!
//! Metric names match YourMT3's so results can be compared key by key:
//! `onset_f`, `offset_f` (+ `_p`, `_r`), `onset_f_drum`, `onset_f_<class>`,
//! `offset_f_<class>`, `<...>_<class>_pc`, `multi_f`, `frame_f`,
//! `frame_f_pc`, and the weighted `micro_{onset,offset}_{p,r}_<class>` that
//! [`crate::aggregate::MetricAggregator`] turns into `micro_*_f_<class>`.

use std::collections::BTreeMap;

use crate::error::{Error, Result, Side};
use crate::frame::{FRAME_HOP, PianoRoll, frame_f1};
use crate::transcription::{Interval, NoteMatchParams, match_notes};
use crate::util::{f_measure, midi_to_hz};
use crate::vocab::Vocab;

/// Program number YourMT3 reserves for drums.
pub const DRUM_PROGRAM: u8 = 128;
/// Drum notes are scored as `[onset, onset + 8 ms]`; their offsets are unused.
pub const DRUM_INTERVAL: f64 = 0.008;
/// YourMT3's onset tolerance (seconds).
pub const DEFAULT_ONSET_TOLERANCE: f64 = 0.05;
/// Pitch-class notes are moved to `pitch % 12 + 64`, an octave near the
/// middle of the range, so that octave errors vanish.
pub const PITCH_CLASS_BASE: u8 = 64;

/// One note as YourMT3's `Note` dataclass: the symbolic pipeline's type, so that notes read
/// from MIDI or from the `notes` table are scored without conversion.
pub use amt_symbolic::Note;

/// Which metrics to compute, mirroring `compute_track_metrics`' arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackMetricsConfig {
    /// Instrument classes for per-class metrics and `multi_f`; `None` gives
    /// only the instrument-agnostic and drum metrics.
    pub eval_vocab: Option<Vocab>,
    /// Drum classes both sides are reduced to; drums outside are dropped.
    pub drum_vocab: Option<Vocab>,
    pub onset_tolerance: f64,
    /// Classes (case-insensitive names) that also get `_pc` metrics.
    pub pitch_class_metric: Vec<String>,
    pub add_frame_metric: bool,
    pub add_micro_metric: bool,
    pub add_multi_f_metric: bool,
}

impl Default for TrackMetricsConfig {
    fn default() -> Self {
        Self {
            eval_vocab: None,
            drum_vocab: None,
            onset_tolerance: DEFAULT_ONSET_TOLERANCE,
            pitch_class_metric: Vec::new(),
            add_frame_metric: false,
            add_micro_metric: false,
            add_multi_f_metric: false,
        }
    }
}

/// A value averaged with a weight (micro metrics: P weighted by the number
/// of estimated notes, R by the number of reference notes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weighted {
    pub value: f64,
    pub weight: f64,
}

/// One track's metrics: plain values (macro-averaged over files) and
/// weighted ones (micro-averaged). NaN marks an undefined value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrackMetrics {
    pub values: BTreeMap<String, f64>,
    pub weighted: BTreeMap<String, Weighted>,
}

/// Notes of one side prepared for mir_eval-style matching.
#[derive(Debug, Default)]
struct NoteSet {
    intervals: Vec<Interval>,
    hz: Vec<f64>,
}

impl NoteSet {
    fn from_notes<'a>(notes: impl IntoIterator<Item = &'a Note>, is_drum: bool) -> Self {
        let mut s = Self::default();
        for n in notes {
            let end = if is_drum {
                n.onset + DRUM_INTERVAL
            } else {
                n.offset
            };
            s.intervals.push([n.onset, end]);
            s.hz.push(midi_to_hz(f64::from(n.pitch)));
        }
        s
    }

    fn len(&self) -> usize {
        self.hz.len()
    }
}

/// Onset and (optionally) onset+offset scores of one note set pair after
/// YourMT3's empty-list rules, plus the counts `multi_f` needs.
#[derive(Debug, Clone, Copy)]
struct NoteScores {
    onset: (f64, f64, f64),
    offset: (f64, f64, f64),
    n_est: usize,
    n_ref: usize,
    onset_matches: usize,
    offset_matches: usize,
}

/// `mir_eval_note_f1` with its empty rules:
/// no ref, no est: F, P, R = NaN; no ref: F = NaN, P = 0, R = NaN;
/// no est: F = 0, P = NaN, R = 0.
fn note_scores(
    est: &NoteSet,
    reference: &NoteSet,
    onset_tolerance: f64,
    offsets: bool,
) -> Result<NoteScores> {
    let nan = f64::NAN;
    let (n_est, n_ref) = (est.len(), reference.len());
    let empty = |p: f64, r: f64, f: f64| NoteScores {
        onset: (p, r, f),
        offset: (p, r, f),
        n_est,
        n_ref,
        onset_matches: 0,
        offset_matches: 0,
    };
    match (n_ref == 0, n_est == 0) {
        (true, true) => return Ok(empty(nan, nan, nan)),
        (true, false) => return Ok(empty(0.0, nan, nan)),
        (false, true) => return Ok(empty(nan, 0.0, 0.0)),
        (false, false) => {}
    }
    let score = |offset_ratio: Option<f64>| -> Result<(usize, (f64, f64, f64))> {
        let params = NoteMatchParams {
            onset_tolerance,
            offset_ratio,
            ..NoteMatchParams::default()
        };
        let m = match_notes(
            &reference.intervals,
            &reference.hz,
            &est.intervals,
            &est.hz,
            &params,
        )?
        .len();
        let p = m as f64 / n_est as f64;
        let r = m as f64 / n_ref as f64;
        Ok((m, (p, r, f_measure(p, r, 1.0))))
    };
    let (onset_matches, onset) = score(None)?;
    let (offset_matches, offset) = if offsets {
        score(Some(0.2))?
    } else {
        (0, (nan, nan, nan))
    };
    Ok(NoteScores {
        onset,
        offset,
        n_est,
        n_ref,
        onset_matches,
        offset_matches,
    })
}

/// YourMT3 rejects nothing itself but mir_eval raises on bad intervals; we
/// check up front so the error names the index in the caller's list.
fn validate_notes(side: Side, notes: &[Note]) -> Result<()> {
    for (index, n) in notes.iter().enumerate() {
        let onset_ok = n.onset.is_finite() && n.onset >= 0.0;
        let offset_ok = n.is_drum || (n.offset.is_finite() && n.offset > n.onset);
        if !(onset_ok && offset_ok) {
            return Err(Error::InvalidInterval {
                side,
                index,
                onset: n.onset,
                offset: n.offset,
            });
        }
    }
    Ok(())
}

/// Each drum note is copied once per drum class containing its pitch, with
/// the class's first pitch; drums in no class are dropped.
fn reduce_drums(notes: &[Note], vocab: &Vocab) -> Vec<Note> {
    let mut out = Vec::new();
    for n in notes {
        for g in &vocab.groups {
            if g.members.contains(&n.pitch) {
                out.push(Note {
                    pitch: g.members[0],
                    ..*n
                });
            }
        }
    }
    out
}

fn insert_scores(
    out: &mut TrackMetrics,
    s: &NoteScores,
    suffix: &str,
    offsets: bool,
    with_pr: bool,
    micro: bool,
) {
    let mut put = |k: &str, v: f64| {
        out.values.insert(format!("{k}{suffix}"), v);
    };
    put("onset_f", s.onset.2);
    if offsets {
        put("offset_f", s.offset.2);
    }
    if with_pr {
        put("onset_p", s.onset.0);
        put("onset_r", s.onset.1);
        if offsets {
            put("offset_p", s.offset.0);
            put("offset_r", s.offset.1);
        }
    }
    if micro {
        let (ne, nr) = (s.n_est as f64, s.n_ref as f64);
        let mut putw = |k: &str, value: f64, weight: f64| {
            out.weighted
                .insert(format!("{k}{suffix}"), Weighted { value, weight });
        };
        putw("micro_onset_p", s.onset.0, ne);
        putw("micro_onset_r", s.onset.1, nr);
        if offsets {
            putw("micro_offset_p", s.offset.0, ne);
            putw("micro_offset_r", s.offset.1, nr);
        }
    }
}

/// Per-track metrics of `pred` against `reference`.
///
/// Deviations from YourMT3, all deliberate:
/// - `multi_f` is computed from exact match counts whenever
///   `add_multi_f_metric` is set and an eval vocabulary is given; YourMT3
///   rebuilds the counts from `P * n_est` and silently gets NaN unless
///   `add_micro_metric` is also set. Its `'micro_offset_p_' in key` filter
///   also sweeps in the `_pc` classes (double counting when pitch-class
///   metrics are on); we count each eval-vocab class once, as the spec
///   defines multi_f.
/// - The frame roll length uses the true last offset (see
///   [`PianoRoll::from_notes`]).
/// - Invalid notes (negative or non-finite onset, non-drum offset <= onset)
///   are an error here; YourMT3 would raise from inside mir_eval.
pub fn compute_track_metrics(
    pred: &[Note],
    reference: &[Note],
    cfg: &TrackMetricsConfig,
) -> Result<TrackMetrics> {
    validate_notes(Side::Estimate, pred)?;
    validate_notes(Side::Reference, reference)?;
    let split =
        |notes: &[Note]| -> (Vec<Note>, Vec<Note>) { notes.iter().partition(|n| n.is_drum) };
    let (mut pred_drum, pred_inst) = split(pred);
    let (mut ref_drum, ref_inst) = split(reference);
    if let Some(dv) = &cfg.drum_vocab {
        pred_drum = reduce_drums(&pred_drum, dv);
        ref_drum = reduce_drums(&ref_drum, dv);
    }
    let tol = cfg.onset_tolerance;
    let mut out = TrackMetrics::default();

    let drum = note_scores(
        &NoteSet::from_notes(&pred_drum, true),
        &NoteSet::from_notes(&ref_drum, true),
        tol,
        false,
    )?;
    insert_scores(&mut out, &drum, "_drum", false, false, cfg.add_micro_metric);

    let inst = note_scores(
        &NoteSet::from_notes(&pred_inst, false),
        &NoteSet::from_notes(&ref_inst, false),
        tol,
        true,
    )?;
    insert_scores(&mut out, &inst, "", true, true, false);

    if cfg.add_frame_metric {
        let roll = |notes: &[Note], side| {
            PianoRoll::from_notes(
                notes.iter().map(|n| (n.onset, n.offset, n.pitch)),
                FRAME_HOP,
                side,
            )
        };
        let (f, f_pc) = frame_f1(
            &roll(&ref_inst, Side::Reference)?,
            &roll(&pred_inst, Side::Estimate)?,
        );
        out.values.insert("frame_f".into(), f);
        out.values.insert("frame_f_pc".into(), f_pc);
    }

    let Some(vocab) = &cfg.eval_vocab else {
        return Ok(out);
    };
    let (mut tp, mut n_est, mut n_ref) = (0usize, 0usize, 0usize);
    for g in &vocab.groups {
        let in_group = |n: &&Note| g.members.contains(&n.program);
        let pg: Vec<Note> = pred_inst.iter().filter(in_group).copied().collect();
        let rg: Vec<Note> = ref_inst.iter().filter(in_group).copied().collect();
        let wants_pc = cfg
            .pitch_class_metric
            .iter()
            .any(|c| c.to_lowercase() == g.name.to_lowercase());
        if wants_pc {
            let pc = |notes: &[Note]| -> Vec<Note> {
                notes
                    .iter()
                    .map(|n| Note {
                        pitch: n.pitch % 12 + PITCH_CLASS_BASE,
                        ..*n
                    })
                    .collect()
            };
            let s = note_scores(
                &NoteSet::from_notes(&pc(&pg), false),
                &NoteSet::from_notes(&pc(&rg), false),
                tol,
                true,
            )?;
            let suffix = format!("_{}_pc", g.name);
            insert_scores(&mut out, &s, &suffix, true, false, cfg.add_micro_metric);
        }
        let s = note_scores(
            &NoteSet::from_notes(&pg, false),
            &NoteSet::from_notes(&rg, false),
            tol,
            true,
        )?;
        insert_scores(
            &mut out,
            &s,
            &format!("_{}", g.name),
            true,
            false,
            cfg.add_micro_metric,
        );
        tp += s.offset_matches;
        n_est += s.n_est;
        n_ref += s.n_ref;
    }
    if cfg.add_multi_f_metric {
        tp += drum.onset_matches;
        n_est += drum.n_est;
        n_ref += drum.n_ref;
        out.values
            .insert("multi_f".into(), multi_f(tp, n_est, n_ref));
    }
    Ok(out)
}

/// MT3's multi-instrument F: P = TP / n_est, R = TP / n_ref over all
/// classes (onset+offset+class) and drums (onset), NaN when a count is 0.
pub fn multi_f(tp: usize, n_est: usize, n_ref: usize) -> f64 {
    let p = if n_est > 0 {
        tp as f64 / n_est as f64
    } else {
        f64::NAN
    };
    let r = if n_ref > 0 {
        tp as f64 / n_ref as f64
    } else {
        f64::NAN
    };
    crate::util::f1_measure(p, r)
}
