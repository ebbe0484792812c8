//! Scoring a folder of estimated MIDI files against a folder of reference MIDI files, matched
//! by relative path without the extension (`a/song.mid` pairs with `a/song.midi`).
//!
//! A reference without an estimate is scored against an empty estimate (a missed track scores
//! 0, not nothing); an estimate without a reference is reported and skipped. A file that fails
//! to parse is reported with its path and reason; the others are still scored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use amt_metrics::{MetricAggregator, TrackMetricsConfig, compute_track_metrics};
use amt_symbolic::{MidiToNotesConfig, midi_to_notes};
use rayon::prelude::*;
use serde::Serialize;

/// What to compute; every field enters the cache key of the published results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalOptions {
    pub eval_vocab: Option<String>,
    pub drum_vocab: Option<String>,
    pub onset_tolerance: f64,
    pub frame: bool,
    pub pitch_class: Vec<String>,
    pub ignore_pedal: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileScore {
    pub name: String,
    pub metrics: BTreeMap<String, f64>,
    /// True when no estimate existed and an empty one was scored.
    pub missing_estimate: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EvalOutcome {
    pub files: Vec<FileScore>,
    /// Metric -> (macro mean ignoring NaN, or micro F; files with a non-NaN value).
    pub means: BTreeMap<String, (f64, u64)>,
    pub problems: Vec<Problem>,
    pub unmatched_estimates: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("`{0}` is not a folder")]
    NotAFolder(PathBuf),
    #[error("no MIDI files (`.mid`, `.midi`) under `{0}`")]
    NoMidi(PathBuf),
    #[error(transparent)]
    Vocab(#[from] amt_metrics::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// MIDI files under `dir` by name (relative path without extension).
pub fn midi_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>, EvalError> {
    if !dir.is_dir() {
        return Err(EvalError::NotAFolder(dir.to_owned()));
    }
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs_err::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_lowercase);
            if matches!(ext.as_deref(), Some("mid" | "midi")) {
                let rel = p.strip_prefix(dir).expect("under dir").with_extension("");
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(name, p);
            }
        }
    }
    Ok(out)
}

/// MIDI parsing for evaluation: channel 10 is drums (General MIDI, and what `amt` writes), a
/// channel without a program change plays program 0, velocity is binary (YourMT3's default).
fn midi_config(opts: &EvalOptions) -> MidiToNotesConfig {
    MidiToNotesConfig {
        ch_9_as_drum: true,
        force_all_program_to: Some(0),
        ignore_pedal: opts.ignore_pedal,
        ..MidiToNotesConfig::default()
    }
}

fn read_notes(path: &Path, cfg: &MidiToNotesConfig) -> Result<Vec<amt_metrics::Note>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let parsed = midi_to_notes(&bytes, cfg).map_err(|e| e.to_string())?;
    Ok(parsed
        .notes
        .into_iter()
        .map(|n| amt_metrics::Note {
            is_drum: n.is_drum,
            program: n.program,
            onset: n.onset,
            offset: n.offset,
            pitch: n.pitch,
            velocity: n.velocity,
        })
        .collect())
}

pub fn metrics_config(opts: &EvalOptions) -> Result<TrackMetricsConfig, EvalError> {
    let eval_vocab = opts
        .eval_vocab
        .as_deref()
        .map(amt_metrics::vocab::eval_vocab)
        .transpose()?;
    let drum_vocab = opts
        .drum_vocab
        .as_deref()
        .map(amt_metrics::vocab::drum_vocab)
        .transpose()?;
    let per_class = eval_vocab.is_some();
    Ok(TrackMetricsConfig {
        eval_vocab,
        drum_vocab,
        onset_tolerance: opts.onset_tolerance,
        pitch_class_metric: opts.pitch_class.clone(),
        add_frame_metric: opts.frame,
        add_micro_metric: per_class,
        add_multi_f_metric: per_class,
    })
}

pub fn evaluate_dirs(
    reference: &Path,
    estimate: &Path,
    opts: &EvalOptions,
) -> Result<EvalOutcome, EvalError> {
    let refs = midi_files(reference)?;
    if refs.is_empty() {
        return Err(EvalError::NoMidi(reference.to_owned()));
    }
    let ests = midi_files(estimate)?;
    let mcfg = metrics_config(opts)?;
    let midi = midi_config(opts);
    type Scored = Result<(FileScore, amt_metrics::TrackMetrics), Problem>;
    let scored: Vec<Scored> = refs
        .par_iter()
        .map(|(name, ref_path)| {
            let problem = |path: &Path, error: String| Problem {
                path: path.display().to_string(),
                error,
            };
            let ref_notes = read_notes(ref_path, &midi).map_err(|e| problem(ref_path, e))?;
            let (est_notes, missing) = match ests.get(name) {
                Some(p) => (read_notes(p, &midi).map_err(|e| problem(p, e))?, false),
                None => (Vec::new(), true),
            };
            let m = compute_track_metrics(&est_notes, &ref_notes, &mcfg)
                .map_err(|e| problem(ref_path, e.to_string()))?;
            Ok((
                FileScore {
                    name: name.clone(),
                    metrics: m.values.clone(),
                    missing_estimate: missing,
                },
                m,
            ))
        })
        .collect();
    let mut out = EvalOutcome::default();
    let mut agg = MetricAggregator::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for s in scored {
        match s {
            Ok((score, m)) => {
                agg.add_track(&m);
                for (k, v) in &score.metrics {
                    *counts.entry(k.clone()).or_default() += u64::from(!v.is_nan());
                }
                out.files.push(score);
            }
            Err(p) => out.problems.push(p),
        }
    }
    for (k, v) in agg.compute() {
        let n = counts.get(&k).copied().unwrap_or(out.files.len() as u64);
        out.means.insert(k, (v, n));
    }
    out.unmatched_estimates = ests
        .keys()
        .filter(|k| !refs.contains_key(*k))
        .cloned()
        .collect();
    Ok(out)
}
