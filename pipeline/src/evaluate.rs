//! Scoring estimates against references: a folder of estimated MIDI files against a folder of
//! reference MIDI files, matched by relative path without the extension (`a/song.mid` pairs
//! with `a/song.midi`), or a predictions table against a dataset's published `notes`, matched
//! by track id.
//!
//! MIDI files are read as they are written ([`MidiToNotesConfig::as_written`]): evaluation never
//! applies the training-data rules (10 ms rounding, overlap trimming, minimum durations) to
//! what it evaluates.
//!
//! A reference without an estimate is scored against an empty estimate (a missed track scores
//! 0, not nothing); an estimate without a reference is reported and skipped. An estimate that
//! cannot be read (corrupt, truncated) is reported and scored as an empty transcription, so a
//! broken file lowers the mean instead of vanishing from it (`skip_unreadable` leaves it out
//! instead). A reference that cannot be read is reported and its file left out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use amt_metrics::{MetricAggregator, TrackMetricsConfig, compute_track_metrics};
use amt_symbolic::{MidiToNotesConfig, Note, midi_to_notes};
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
    /// Apply the sustain pedal (CC64) when reading MIDI; off by default, as mir_eval users
    /// expect.
    pub sustain_pedal: bool,
    /// Leave unreadable estimates out instead of scoring them as empty.
    pub skip_unreadable: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileScore {
    pub name: String,
    pub metrics: BTreeMap<String, f64>,
    /// True when no estimate existed and an empty one was scored.
    pub missing_estimate: bool,
    /// True when the estimate could not be read and an empty one was scored.
    pub unreadable_estimate: bool,
}

/// Which side of a pair a problem concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Reference,
    Estimate,
}

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: String,
    pub error: String,
    pub side: Side,
    /// Whether the file was scored anyway (an unreadable estimate scored as empty).
    pub scored: bool,
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
    #[error("the estimate folder `{0}` holds no MIDI files (`.mid`, `.midi`): nothing to score")]
    NoEstimates(PathBuf),
    #[error(transparent)]
    Vocab(#[from] amt_metrics::Error),
    #[error("the predictions table `{0}` cannot be used: {1}")]
    Predictions(PathBuf, String),
    #[error("the published notes in `{0}` cannot be read: {1}; `amt cache verify` checks them")]
    Notes(PathBuf, String),
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

fn read_notes(path: &Path, cfg: &MidiToNotesConfig) -> Result<Vec<Note>, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    Ok(midi_to_notes(&bytes, cfg).map_err(|e| e.to_string())?.notes)
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

/// A pair ready to score: the reference, and the estimate when one exists and was readable.
struct Pair {
    reference: Vec<Note>,
    estimate: Estimate,
}

enum Estimate {
    Notes(Vec<Note>),
    Missing,
    /// Unreadable: scored as empty, reported with this problem.
    Unreadable(Problem),
}

/// A pair loaded, or the problem that leaves the file out.
type Loaded = Result<Pair, Problem>;

/// Scores every name (in parallel), loading each pair with `load`.
fn score_all(
    names: Vec<String>,
    load: impl Fn(&str) -> Loaded + Sync,
    opts: &EvalOptions,
    unmatched_estimates: Vec<String>,
) -> Result<EvalOutcome, EvalError> {
    let mcfg = metrics_config(opts)?;
    type Scored = (
        Result<(FileScore, amt_metrics::TrackMetrics), Problem>,
        Option<Problem>,
    );
    let scored: Vec<Scored> = names
        .par_iter()
        .map(|name| {
            let pair = match load(name) {
                Ok(p) => p,
                Err(p) => return (Err(p), None),
            };
            let (estimate, missing, unreadable) = match pair.estimate {
                Estimate::Notes(n) => (n, false, None),
                Estimate::Missing => (Vec::new(), true, None),
                Estimate::Unreadable(p) => (Vec::new(), false, Some(p)),
            };
            let scored = compute_track_metrics(&estimate, &pair.reference, &mcfg)
                .map_err(|e| Problem {
                    path: name.clone(),
                    error: e.to_string(),
                    side: Side::Reference,
                    scored: false,
                })
                .map(|m| {
                    let score = FileScore {
                        name: name.clone(),
                        metrics: m.values.clone(),
                        missing_estimate: missing,
                        unreadable_estimate: unreadable.is_some(),
                    };
                    (score, m)
                });
            (scored, unreadable)
        })
        .collect();
    let mut out = EvalOutcome {
        unmatched_estimates,
        ..EvalOutcome::default()
    };
    let mut agg = MetricAggregator::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (s, unreadable) in scored {
        out.problems.extend(unreadable);
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
    Ok(out)
}

/// Scores the MIDI files of `estimate` against those of `reference`.
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
    if ests.is_empty() {
        return Err(EvalError::NoEstimates(estimate.to_owned()));
    }
    let midi = MidiToNotesConfig::as_written(opts.sustain_pedal);
    let unmatched = ests
        .keys()
        .filter(|k| !refs.contains_key(*k))
        .cloned()
        .collect();
    let problem = |path: &Path, error: String, side: Side, scored: bool| Problem {
        path: path.display().to_string(),
        error,
        side,
        scored,
    };
    let load = |name: &str| -> Loaded {
        let ref_path = &refs[name];
        let reference = read_notes(ref_path, &midi)
            .map_err(|e| problem(ref_path, e, Side::Reference, false))?;
        let estimate = match ests.get(name) {
            None => Estimate::Missing,
            Some(p) => match read_notes(p, &midi) {
                Ok(notes) => Estimate::Notes(notes),
                Err(e) if opts.skip_unreadable => {
                    return Err(problem(p, e, Side::Estimate, false));
                }
                Err(e) => Estimate::Unreadable(problem(p, e, Side::Estimate, true)),
            },
        };
        Ok(Pair {
            reference,
            estimate,
        })
    };
    score_all(refs.keys().cloned().collect(), load, opts, unmatched)
}

/// Scores a predictions table (Parquet with columns `track_id`, `program`, `is_drum`, `onset`,
/// `offset`, `pitch`, and optionally `velocity`; any integer or float widths) against the
/// published notes of every track of a dataset (stems mixed as for training).
pub fn evaluate_predictions(
    predictions: &Path,
    notes: &amt_cache::Artifact,
    opts: &EvalOptions,
) -> Result<EvalOutcome, EvalError> {
    let mut predicted = read_predictions(predictions)?;
    let tracks = amt_stages::notes::read::tracks(notes)
        .map_err(|e| EvalError::Notes(notes.dir.clone(), e.to_string()))?;
    let names: Vec<String> = tracks.iter().map(|t| t.track_id.clone()).collect();
    let unmatched = predicted
        .keys()
        .filter(|k| !names.contains(k))
        .cloned()
        .collect();
    // The whole notes table is read once, not once per track.
    let references = std::sync::Mutex::new(
        amt_stages::notes::read::all_track_notes(notes)
            .map_err(|e| EvalError::Notes(notes.dir.clone(), e.to_string()))?,
    );
    let estimates = std::sync::Mutex::new(std::mem::take(&mut predicted));
    let load = |name: &str| -> Loaded {
        let stems = references
            .lock()
            .expect("not poisoned")
            .remove(name)
            .unwrap_or_default();
        let reference = amt_stages::notes::track_notes(stems);
        let estimate = match estimates.lock().expect("not poisoned").remove(name) {
            Some(n) => Estimate::Notes(n),
            None => Estimate::Missing,
        };
        Ok(Pair {
            reference,
            estimate,
        })
    };
    score_all(names, load, opts, unmatched)
}

/// Predicted notes by track id.
fn read_predictions(path: &Path) -> Result<BTreeMap<String, Vec<Note>>, EvalError> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{DataType, Float64Type, UInt8Type};
    let bad = |reason: String| EvalError::Predictions(path.to_owned(), reason);
    let file = fs_err::File::open(path)?.into_parts().0;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let mut out: BTreeMap<String, Vec<Note>> = BTreeMap::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let column = |name: &str, ty: &DataType, required: bool| match batch.column_by_name(name) {
            Some(c) => arrow::compute::cast(c, ty)
                .map(Some)
                .map_err(|e| bad(format!("column `{name}` cannot be read as {ty}: {e}"))),
            None if required => Err(bad(format!(
                "no column `{name}`; expected track_id, program, is_drum, onset, offset, pitch [, velocity]"
            ))),
            None => Ok(None),
        };
        let track = column("track_id", &DataType::Utf8, true)?.expect("required");
        let program = column("program", &DataType::UInt8, true)?.expect("required");
        let is_drum = column("is_drum", &DataType::Boolean, true)?.expect("required");
        let onset = column("onset", &DataType::Float64, true)?.expect("required");
        let offset = column("offset", &DataType::Float64, true)?.expect("required");
        let pitch = column("pitch", &DataType::UInt8, true)?.expect("required");
        let velocity = column("velocity", &DataType::UInt8, false)?;
        let (track, is_drum) = (track.as_string::<i32>(), is_drum.as_boolean());
        let (program, pitch) = (
            program.as_primitive::<UInt8Type>(),
            pitch.as_primitive::<UInt8Type>(),
        );
        let (onset, offset) = (
            onset.as_primitive::<Float64Type>(),
            offset.as_primitive::<Float64Type>(),
        );
        for i in 0..batch.num_rows() {
            let cols: [&dyn Array; 6] = [track, program, is_drum, onset, offset, pitch];
            if cols.iter().any(|c| c.is_null(i)) {
                return Err(bad(format!("row {i} has a null in a required column")));
            }
            let vel = velocity
                .as_ref()
                .map(|v| v.as_primitive::<UInt8Type>())
                .filter(|v| !v.is_null(i))
                .map(|v| v.value(i))
                .unwrap_or(1);
            out.entry(track.value(i).to_string())
                .or_default()
                .push(Note {
                    is_drum: is_drum.value(i),
                    program: program.value(i),
                    onset: onset.value(i),
                    offset: offset.value(i),
                    pitch: pitch.value(i),
                    velocity: vel,
                });
        }
    }
    Ok(out)
}
