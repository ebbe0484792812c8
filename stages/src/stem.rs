//! `stem`: every audio file the dataset's adapter names -> 16 kHz int16 audio per track, in
//! memory-mappable Arrow IPC files, and the `stems` table; `problems` for tracks whose audio
//! cannot be used.
//!
//! Track-grained ([`crate::parts`]): one part per track, computed in parallel; a killed run
//! resumes where it stopped, and a changed file rebuilds only its track. A track's part holds
//! `audio.arrow` (one record batch per stem, then per mix: see [`crate::audio::pcm`]) and its
//! rows of `stems` and `problems`; the stage consolidates the rows into one `stems` and one
//! `problems` table. Memory: one stem at a time at 16 kHz (a 10-minute stem is 19 MB of int16),
//! plus the running sum of a computed mix.
//!
//! A track goes to `problems` (the others still publish) when a file fails to decode (corrupt,
//! truncated, empty, unknown format: the reason names the file), when it has no audio, or when
//! its audio is longer than its annotations by more than `length_tolerance_s` (a wrong or
//! misaligned file). Audio shorter than its annotations is kept, as YourMT3 keeps it (it uses the
//! shorter of the two); `stems.n_samples` against `tracks.duration_s` shows such excerpts.
//!
//! ## Configuration (`[stage.stem]`)
//! ```toml
//! [stage.stem]
//! length_tolerance_s = 10.0   # audio longer than the annotations by more: a problem
//! ```

use std::collections::BTreeMap;
use std::io::Write;

use amt_schemas::problems::{self, ProblemRow, ProblemsBuilder};
use amt_schemas::stems::{self, StemRow, StemsBuilder};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::adapters::{self, DatasetFiles, MixKind, Problem, TrackAudio, TrackSpec};
use crate::audio::{self, SAMPLE_RATE, pcm};
use crate::parts::{Unit, build_parts, consolidate_table, unit_digest};
use crate::{DatasetSpec, Error, Job, PlanContext, Result, Stage, parse_config};

pub const NAME: &str = "stem";
/// v1: Slakh, MAESTRO, GuitarSet audio.
pub const VERSION: u32 = 1;
/// The audio file of a track's part.
pub const AUDIO_FILE: &str = "audio.arrow";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StemConfig {
    /// Audio longer than the track's annotations by more than this (seconds) is a problem.
    pub length_tolerance_s: f64,
}

impl Default for StemConfig {
    fn default() -> Self {
        StemConfig {
            length_tolerance_s: 10.0,
        }
    }
}

pub struct StemStage;

/// A dataset's file list from its `extract` artifact.
pub fn dataset_files(job: &Job<'_>) -> Result<DatasetFiles> {
    let ds = &job.dataset.name;
    let extract = job
        .upstream
        .get(crate::extract::NAME)
        .ok_or_else(|| Error::Config {
            stage: job.stage.to_string(),
            reason: format!("upstream `extract` has no artifact for `{ds}`"),
        })?;
    let parquet = extract
        .table_file(amt_schemas::files::NAME)
        .ok_or_else(|| Error::Table {
            path: extract.dir.clone(),
            reason: "the `extract` artifact has no `files` table; rebuild it with `amt run --force --until extract`".into(),
        })?;
    DatasetFiles::from_parquet(ds, &job.dataset.folder, &parquet)
}

/// The adapter of the job's dataset, or the error saying how to choose one.
pub fn adapter(job: &Job<'_>) -> Result<Box<dyn adapters::Adapter>> {
    adapters::of(job.dataset).ok_or_else(|| Error::Config {
        stage: job.stage.to_string(),
        reason: adapters::missing_reason(&job.dataset.name),
    })
}

impl Stage for StemStage {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        vec![
            crate::extract::NAME.to_string(),
            crate::notes::NAME.to_string(),
        ]
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(StemConfig::default()).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        let c: StemConfig = parse_config(NAME, config)?;
        if c.length_tolerance_s.is_nan() || c.length_tolerance_s < 0.0 {
            return Err(Error::Config {
                stage: NAME.into(),
                reason: "`length_tolerance_s` must be 0 or more".into(),
            });
        }
        Ok(())
    }

    fn skip_reason(&self, dataset: &DatasetSpec, _: &Value) -> Option<String> {
        dataset
            .adapter
            .is_none()
            .then(|| adapters::missing_reason(&dataset.name))
    }

    fn external_inputs(&self, ctx: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        Ok(adapters::key_input(ctx.dataset))
    }

    fn run(&self, job: &mut Job<'_>) -> Result<()> {
        let cfg: StemConfig = parse_config(NAME, job.config)?;
        let adapter = adapter(job)?;
        let files = dataset_files(job)?;
        let listing = adapter.tracks(&files)?;
        let notes = job
            .upstream
            .get(crate::notes::NAME)
            .ok_or_else(|| Error::Config {
                stage: NAME.into(),
                reason: "upstream `notes` has no artifact".into(),
            })?;
        // Only tracks whose notes were published: a track without annotations cannot train.
        let durations: BTreeMap<String, f64> = crate::notes::read::tracks(notes)?
            .into_iter()
            .map(|t| (t.track_id, t.duration_s))
            .collect();
        let tracks: Vec<&TrackSpec> = listing
            .tracks
            .iter()
            .filter(|t| durations.contains_key(&t.id))
            .collect();
        // Each track's audio description (cheap: file lists only), then its unit digest over
        // every file it depends on.
        let described: Vec<(&TrackSpec, std::result::Result<TrackAudio, Problem>)> = tracks
            .par_iter()
            .map(|t| Ok((*t, adapter.audio(&files, t)?)))
            .collect::<Result<_>>()?;
        let units: Vec<Unit> = described
            .iter()
            .map(|(t, audio)| {
                let mut deps = BTreeMap::new();
                let mut inputs: Vec<(String, String)> =
                    vec![("duration".into(), format!("{:.6}", durations[&t.id]))];
                let listed: Vec<String> = match audio {
                    Ok(a) => a.deps.clone(),
                    Err(p) => vec![p.path.clone()],
                };
                for d in listed {
                    let digest = files.digest(&d).unwrap_or("missing").to_string();
                    inputs.push((d.clone(), digest.clone()));
                    deps.insert(d, digest);
                }
                let refs: Vec<(&str, &str)> = inputs
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                Unit {
                    id: t.id.clone(),
                    digest: unit_digest(NAME, job.config, VERSION, &t.id, &refs),
                    deps,
                }
            })
            .collect();
        let by_id: BTreeMap<&str, &(&TrackSpec, std::result::Result<TrackAudio, Problem>)> =
            described.iter().map(|d| (d.0.id.as_str(), d)).collect();
        job.progress.begin("decoding audio", false);
        let ds = job.dataset.name.clone();
        let (parts, counts) = build_parts(job, &units, |u, w| {
            let (track, audio) = by_id[u.id.as_str()];
            let part_dir = amt_cache::parts::part_dir_name(&u.id);
            let outcome = match audio {
                Ok(a) => decode_track(&files, track, a, durations[&u.id], &cfg, w, &part_dir)?,
                Err(p) => TrackOutcome::Problem(p.clone()),
            };
            let (n_rows, problem) = match outcome {
                TrackOutcome::Rows(rows) => {
                    let n = rows.len();
                    let mut b = StemsBuilder::new();
                    for r in &rows {
                        b.push(&r.as_row(&ds, &u.id));
                    }
                    let mut t = w.table(stems::NAME, stems::schema())?;
                    t.write(&b.finish())?;
                    t.finish()?;
                    (n, None)
                }
                TrackOutcome::Problem(p) => {
                    let mut b = ProblemsBuilder::new();
                    b.push(&ProblemRow {
                        dataset: &ds,
                        stage: NAME,
                        path: &p.path,
                        error: &p.error,
                    });
                    let mut t = w.table(problems::NAME, problems::schema())?;
                    t.write(&b.finish())?;
                    t.finish()?;
                    (0, Some(p))
                }
            };
            if let Some(p) = &problem {
                tracing::warn!("{ds}: quarantined `{}`: {}", p.path, p.error);
            }
            Ok(json!({"rows": n_rows, "problem": problem.is_some()}))
        })?;
        let rows = consolidate_table(job, &parts, stems::NAME, stems::schema())?;
        // Tracks without published notes are left out here; `notes` named them in `problems`.
        let quarantined = consolidate_table(job, &parts, problems::NAME, problems::schema())?;
        job.out.set_summary("tracks", parts.len().into());
        job.out.set_summary("stems", rows.into());
        job.out.set_summary("problems", quarantined.into());
        tracing::debug!("{ds}: stem parts {counts:?}");
        Ok(())
    }
}

/// One decoded stem or mix, before it becomes a `stems` row.
struct Decoded {
    stem_id: String,
    kind: &'static str,
    program: Option<u8>,
    is_drum: Option<bool>,
    n_samples: u64,
    source: Option<String>,
    source_rate: u32,
    source_channels: u16,
    file: String,
    batch: u32,
    peak: f32,
}

impl Decoded {
    fn as_row<'a>(&'a self, dataset: &'a str, track_id: &'a str) -> StemRow<'a> {
        StemRow {
            dataset,
            track_id,
            stem_id: &self.stem_id,
            kind: self.kind,
            program: self.program,
            is_drum: self.is_drum,
            sample_rate: SAMPLE_RATE,
            n_samples: self.n_samples,
            source: self.source.as_deref(),
            source_rate: self.source_rate,
            source_channels: self.source_channels,
            file: &self.file,
            batch: self.batch,
            peak: self.peak,
        }
    }
}

enum TrackOutcome {
    Rows(Vec<Decoded>),
    Problem(Problem),
}

fn peak_of(s: &[i16]) -> f32 {
    s.iter().map(|&v| pcm::to_f32(v).abs()).fold(0.0, f32::max)
}

/// Decodes every stem and mix of one track into `audio.arrow` of its part; on a problem the
/// file is discarded.
fn decode_track(
    files: &DatasetFiles,
    track: &TrackSpec,
    audio: &TrackAudio,
    duration_s: f64,
    cfg: &StemConfig,
    part: &amt_cache::PartWriter,
    part_dir: &str,
) -> Result<TrackOutcome> {
    let file_rel = format!("parts/{part_dir}/{AUDIO_FILE}");
    let sink = part.create(AUDIO_FILE)?;
    let mut writer = pcm::PcmWriter::new(sink).map_err(arrow_err)?;
    let outcome = decode_into(files, track, audio, duration_s, cfg, &mut writer, &file_rel)?;
    let sink = writer.finish().map_err(arrow_err)?;
    match outcome {
        TrackOutcome::Rows(_) => {
            sink.finish()?;
        }
        TrackOutcome::Problem(_) => sink.discard()?,
    }
    Ok(outcome)
}

fn decode_into<W: Write>(
    files: &DatasetFiles,
    track: &TrackSpec,
    audio: &TrackAudio,
    duration_s: f64,
    cfg: &StemConfig,
    writer: &mut pcm::PcmWriter<W>,
    file_rel: &str,
) -> Result<TrackOutcome> {
    let mut rows = Vec::new();
    // Running sums of the computed mixes, filled as their stems are decoded.
    let mut sums: Vec<(usize, Vec<f32>)> = audio
        .mixes
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m.kind, MixKind::Weights { .. }))
        .map(|(i, _)| (i, Vec::new()))
        .collect();
    // A pitch-shifted rendering (GuitarSet's `_pshift` tracks) shifts every source it decodes.
    let shift = track.pitch_shift();
    let decode =
        |rel: &str, channels| -> std::result::Result<(Vec<i16>, audio::Decoded), Problem> {
            let mut samples = Vec::new();
            let info = audio::decode_file(&files.abs(rel), channels, SAMPLE_RATE, &mut |s| {
                samples.extend_from_slice(s)
            })
            .map_err(|e| Problem::new(rel, e.reason))?;
            if samples.is_empty() {
                return Err(Problem::new(rel, "the audio is empty after decoding"));
            }
            if shift != 0 {
                samples = audio::pitch_shift::pitch_shift(&samples, shift)
                    .map_err(|e| Problem::new(rel, e))?;
            }
            Ok((samples.into_iter().map(pcm::to_i16).collect(), info))
        };
    for stem in &audio.stems {
        let (samples, info) = match decode(&stem.path, stem.channels) {
            Ok(d) => d,
            Err(p) => return Ok(TrackOutcome::Problem(p)),
        };
        let stem_peak = peak_of(&samples);
        for (mix_i, sum) in &mut sums {
            if let MixKind::Weights {
                weights,
                normalise_stems,
                ..
            } = &audio.mixes[*mix_i].kind
                && let Some((_, w)) = weights.iter().find(|(id, _)| id == &stem.stem_id)
            {
                let w = if *normalise_stems && stem_peak > 0.0 {
                    w / stem_peak
                } else {
                    *w
                };
                if sum.len() < samples.len() {
                    sum.resize(samples.len(), 0.0);
                }
                for (acc, &v) in sum.iter_mut().zip(&samples) {
                    *acc += w * pcm::to_f32(v);
                }
            }
        }
        rows.push(Decoded {
            stem_id: stem.stem_id.clone(),
            kind: "stem",
            program: Some(stem.program),
            is_drum: Some(stem.is_drum),
            n_samples: samples.len() as u64,
            source: Some(stem.path.clone()),
            source_rate: info.source_rate,
            source_channels: info.source_channels,
            file: file_rel.to_string(),
            batch: 0,
            peak: stem_peak,
        });
        rows.last_mut().expect("pushed").batch = writer.push(samples).map_err(arrow_err)? as u32;
    }
    for (i, mix) in audio.mixes.iter().enumerate() {
        let (samples, source, rate, channels) = match &mix.kind {
            MixKind::File { path, channels } => match decode(path, *channels) {
                Ok((s, info)) => (
                    s,
                    Some(path.clone()),
                    info.source_rate,
                    info.source_channels,
                ),
                Err(p) => return Ok(TrackOutcome::Problem(p)),
            },
            MixKind::Weights { peak_normalise, .. } => {
                let mut sum = sums
                    .iter_mut()
                    .find(|(m, _)| *m == i)
                    .map(|(_, s)| std::mem::take(s))
                    .unwrap_or_default();
                if *peak_normalise {
                    let peak = sum.iter().map(|v| v.abs()).fold(0.0, f32::max);
                    if peak > 0.0 {
                        sum.iter_mut().for_each(|v| *v /= peak);
                    }
                }
                let s: Vec<i16> = sum.into_iter().map(pcm::to_i16).collect();
                (s, None, SAMPLE_RATE, 1)
            }
        };
        let seconds = samples.len() as f64 / f64::from(SAMPLE_RATE);
        if seconds > duration_s + cfg.length_tolerance_s {
            let what = source.as_deref().unwrap_or(&track.source).to_string();
            return Ok(TrackOutcome::Problem(Problem::new(
                &what,
                format!(
                    "the audio ({seconds:.1} s) is longer than the annotations of `{}` ({duration_s:.1} s) by more than {} s: a wrong or misaligned file",
                    track.id, cfg.length_tolerance_s
                ),
            )));
        }
        rows.push(Decoded {
            stem_id: mix.name.clone(),
            kind: "mix",
            program: None,
            is_drum: None,
            n_samples: samples.len() as u64,
            source,
            source_rate: rate,
            source_channels: channels,
            file: file_rel.to_string(),
            batch: 0,
            peak: peak_of(&samples),
        });
        rows.last_mut().expect("pushed").batch = writer.push(samples).map_err(arrow_err)? as u32;
    }
    Ok(TrackOutcome::Rows(rows))
}

fn arrow_err(e: arrow::error::ArrowError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}
