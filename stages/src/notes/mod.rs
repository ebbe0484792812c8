//! `notes`: every track's MIDI or annotation files -> `notes`, `note_events`, `tracks` and
//! `problems` tables, per dataset.
//!
//! The stage's only input is the `extract` artifact of the same dataset: its `files.parquet`
//! says which files the dataset folder holds (and their blake3); the dataset's adapter (see
//! [`crate::adapters`]) turns that list into tracks and reads each track's notes with
//! `amt_symbolic`. Tracks are read in parallel (rayon); cancellation is checked between tracks.
//!
//! ## Tables
//! - `notes` (dataset, track_id, stem_id, program, is_drum, onset, offset, pitch, velocity):
//!   one row per note of each stem (Slakh) or track (MAESTRO, GuitarSet: `stem_id` null), in
//!   YourMT3's note order, times in seconds after the MIDI rules (10 ms quantisation, binary
//!   velocity, ... as configured). `offset` is an SQL keyword: quote it in queries
//!   (`SELECT onset, "offset" FROM notes`).
//! - `note_events` (dataset, track_id, stem_id, program, is_drum, time, kind, velocity, pitch):
//!   the onsets and offsets of the same notes, per (track, stem), in YourMT3's event order.
//!   Ties are not stored; tokenisation computes them per segment.
//! - `tracks` (dataset, track_id, duration_s, n_stems, n_notes, source).
//! - `problems` (dataset, stage, path, error): tracks that could not be read (a MIDI that does
//!   not parse, an invalid JAMS, a Slakh folder without `metadata.yaml`, a MAESTRO file listed
//!   but absent). The other tracks are published.
//!
//! A Slakh track's training notes are its stems' notes mixed with YourMT3's `mix_notes` (which
//! trims overlapping notes of the same program across stems): see [`track_notes`], which
//! `amt tokenize` uses.
//!
//! ## Configuration (`[stage.notes]`, per dataset `[dataset.D.stage.notes]`)
//! ```toml
//! [stage.notes]
//! adapter = "auto"               # or "slakh", "maestro", "guitarset"; see crate::adapters
//! slakh_fix_bass_octave = true   # Slakh bass stems one octave down (YourMT3)
//! [stage.notes.midi]             # amt_symbolic::MidiToNotesConfig; defaults = YourMT3's
//! binary_velocity = true
//! ch_9_as_drum = false
//! force_all_drum = false         # Slakh drum stems are forced from metadata.yaml anyway
//! # force_all_program_to = 0     # unset by default; MAESTRO uses 0 unless set
//! trim_overlap = true
//! fix_offset = true
//! quantize = true
//! minimum_offset_sec = 0.01
//! drum_offset_sec = 0.01
//! ignore_pedal = false
//! [stage.notes.midi.track_name_to_program]
//! ```
//! The whole section enters the stage's key. Datasets for which no adapter applies (the name
//! names none and `adapter` is `auto`) have no `notes` stage: plans, runs and status leave it
//! out for them.

pub mod read;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use amt_schemas::note_events::{self, NoteEventRow, NoteEventsBuilder};
use amt_schemas::notes::{self, NoteRow, NotesBuilder};
use amt_schemas::problems::{self, ProblemRow, ProblemsBuilder};
use amt_schemas::tracks::{self, TrackRow, TracksBuilder};
use amt_symbolic::{MidiToNotesConfig, Note, NoteEventList, mix_notes, sort_notes};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapters::{self, Adapter, DatasetFiles, Problem, ReadOptions, TrackNotes};
use crate::{DatasetSpec, Error, Job, PlanContext, Result, Stage, parse_config};

pub const NAME: &str = "notes";
/// v1: Slakh, MAESTRO, GuitarSet adapters. v2: truncated MIDI, tracks without stems or
/// notes are problems; the Slakh release is read from the files.
pub const VERSION: u32 = 2;
/// The `adapter` value that picks the adapter from the dataset name.
pub const AUTO: &str = "auto";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotesConfig {
    /// `auto` (from the dataset name) or an adapter name (`slakh`, `maestro`, `guitarset`).
    pub adapter: String,
    /// Slakh: lower bass stems (programs 32-39) by an octave, except the slap-bass plugin.
    pub slakh_fix_bass_octave: bool,
    /// MIDI -> notes options; adapters add their dataset's fixed rules on top.
    pub midi: MidiToNotesConfig,
}

impl Default for NotesConfig {
    fn default() -> Self {
        NotesConfig {
            adapter: AUTO.into(),
            slakh_fix_bass_octave: true,
            midi: MidiToNotesConfig::default(),
        }
    }
}

impl NotesConfig {
    fn check(&self) -> Result<()> {
        if self.adapter != AUTO && adapters::by_name(&self.adapter).is_none() {
            return Err(Error::Config {
                stage: NAME.into(),
                reason: format!(
                    "adapter `{}` is unknown; use `{AUTO}` or one of: {}",
                    self.adapter,
                    adapters::NAMES.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// The adapter for a dataset: the configured one, or the one its name implies.
    fn adapter_for(&self, dataset: &DatasetSpec) -> Option<Box<dyn Adapter>> {
        if self.adapter == AUTO {
            adapters::of(dataset)
        } else {
            adapters::by_name(&self.adapter)
        }
    }
}

pub struct NotesStage;

/// One track read: its notes, or why it was quarantined.
enum Outcome {
    Read(TrackNotes, Vec<NoteEventList>),
    Quarantined(Problem),
    Skipped,
}

impl Stage for NotesStage {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        vec![crate::extract::NAME.to_string()]
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(NotesConfig::default()).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        parse_config::<NotesConfig>(NAME, config)?.check()
    }

    fn skip_reason(&self, dataset: &DatasetSpec, config: &Value) -> Option<String> {
        skip_reason(dataset, config)
    }

    fn external_inputs(&self, ctx: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        Ok(adapters::key_input(ctx.dataset))
    }

    fn run(&self, job: &mut Job<'_>) -> Result<()> {
        let cfg: NotesConfig = parse_config(NAME, job.config)?;
        cfg.check()?;
        let ds = &job.dataset.name;
        let adapter = cfg.adapter_for(job.dataset).ok_or_else(|| Error::Config {
            stage: NAME.into(),
            reason: skip_reason(job.dataset, job.config)
                .unwrap_or_else(|| format!("no adapter for `{ds}`")),
        })?;
        let extract = job
            .upstream
            .get(crate::extract::NAME)
            .ok_or_else(|| Error::Config {
                stage: NAME.into(),
                reason: format!("upstream `extract` has no artifact for `{ds}`"),
            })?;
        let files_parquet = extract
            .table_files()
            .find(|(t, _)| *t == amt_schemas::files::NAME)
            .map(|(_, p)| p)
            .ok_or_else(|| Error::Table {
                path: extract.dir.clone(),
                reason: "the `extract` artifact has no `files` table; rebuild it with `amt run --force --until extract`".into(),
            })?;
        let files = DatasetFiles::from_parquet(ds, &job.dataset.folder, &files_parquet)?;
        let listing = adapter.tracks(&files)?;
        let options = ReadOptions {
            midi: cfg.midi.clone(),
            slakh_fix_bass_octave: cfg.slakh_fix_bass_octave,
        };

        let progress = job.progress;
        let cancel = job.cancel;
        let total = listing.tracks.len() as u64;
        progress.begin("reading notes", false);
        progress.update(0, total);
        let done = AtomicU64::new(0);
        let outcomes: Vec<Result<Outcome>> = listing
            .tracks
            .par_iter()
            .map(|track| {
                if cancel.load(Ordering::Relaxed) {
                    return Ok(Outcome::Skipped);
                }
                let out = match adapter.read_track(&files, track, &options)? {
                    Ok(notes) => events_of(notes, &track.source),
                    Err(p) => Outcome::Quarantined(p),
                };
                progress.update(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                Ok(out)
            })
            .collect();
        job.check_cancelled()?;

        let mut note_rows = NotesBuilder::new();
        let mut event_rows = NoteEventsBuilder::new();
        let mut track_rows = TracksBuilder::new();
        let mut problem_list = listing.problems;
        for (track, outcome) in listing.tracks.iter().zip(outcomes) {
            let (read, events) = match outcome? {
                Outcome::Read(r, e) => (r, e),
                Outcome::Quarantined(p) => {
                    problem_list.push(p);
                    continue;
                }
                Outcome::Skipped => return Err(Error::Interrupted),
            };
            let mut n_notes = 0u64;
            for (stem, list) in read.stems.iter().zip(&events) {
                let stem_id = stem.stem_id.as_deref();
                for n in &stem.notes {
                    note_rows.push(&NoteRow {
                        dataset: ds,
                        track_id: &track.id,
                        stem_id,
                        program: n.program,
                        is_drum: n.is_drum,
                        onset: n.onset,
                        offset: n.offset,
                        pitch: n.pitch,
                        velocity: n.velocity,
                    });
                }
                n_notes += stem.notes.len() as u64;
                for e in list.events() {
                    event_rows.push(&NoteEventRow {
                        dataset: ds,
                        track_id: &track.id,
                        stem_id,
                        program: e.program,
                        is_drum: e.is_drum,
                        time: e.time,
                        kind: note_events::kind_of(e.velocity),
                        velocity: e.velocity,
                        pitch: e.pitch,
                    });
                }
            }
            track_rows.push(&TrackRow {
                dataset: ds,
                track_id: &track.id,
                duration_s: read.duration_s,
                n_stems: read.stems.iter().filter(|s| s.stem_id.is_some()).count() as u32,
                n_notes,
                source: &track.source,
            });
        }
        problem_list.sort_by(|a, b| a.path.cmp(&b.path).then(a.error.cmp(&b.error)));
        // One row per file and error: tracks read from the same file (GuitarSet's renderings
        // of one annotation) fail together.
        problem_list.dedup();
        let mut problem_rows = ProblemsBuilder::new();
        for p in &problem_list {
            tracing::warn!("{ds}: quarantined `{}`: {}", p.path, p.error);
            problem_rows.push(&ProblemRow {
                dataset: ds,
                stage: NAME,
                path: &p.path,
                error: &p.error,
            });
        }

        let (n_tracks, n_notes, n_events) = (track_rows.len(), note_rows.len(), event_rows.len());
        job.out.write_table(notes::NAME, &[note_rows.finish()])?;
        job.out
            .write_table(note_events::NAME, &[event_rows.finish()])?;
        job.out.write_table(tracks::NAME, &[track_rows.finish()])?;
        job.out
            .write_table(problems::NAME, &[problem_rows.finish()])?;
        job.out.set_summary("adapter", adapter.name().into());
        job.out.set_summary("tracks", n_tracks.into());
        job.out.set_summary("notes", n_notes.into());
        job.out.set_summary("note_events", n_events.into());
        job.out.set_summary("problems", problem_list.len().into());
        Ok(())
    }
}

/// Why `notes` does not apply to the dataset `name` under `config` (see `Stage::skip_reason`).
/// An invalid config applies, so that planning reports the config error.
pub fn skip_reason(dataset: &DatasetSpec, config: &Value) -> Option<String> {
    let cfg: NotesConfig = parse_config(NAME, config).ok()?;
    if cfg.adapter != AUTO || dataset.adapter.is_some() {
        return None;
    }
    Some(adapters::missing_reason(&dataset.name))
}

/// Note events of each stem; notes the event builder rejects quarantine the track, and so does
/// a track without any note (nothing to train or score on).
fn events_of(notes: TrackNotes, source: &str) -> Outcome {
    if notes.stems.iter().all(|s| s.notes.is_empty()) {
        return Outcome::Quarantined(Problem::new(
            source,
            if notes.stems.iter().any(|s| s.stem_id.is_some()) {
                format!(
                    "no notes: none of its {} stem(s) holds a note; check its MIDI files",
                    notes.stems.len()
                )
            } else {
                "no notes: its annotations hold no note; check the annotation file".to_string()
            },
        ));
    }
    let mut lists = Vec::with_capacity(notes.stems.len());
    for stem in &notes.stems {
        match NoteEventList::from_notes(&stem.notes) {
            Ok(l) => lists.push(l),
            Err(e) => {
                let what = stem
                    .stem_id
                    .as_deref()
                    .map(|s| format!("stem {s}: "))
                    .unwrap_or_default();
                return Outcome::Quarantined(Problem::new(source, format!("{what}{e}")));
            }
        }
    }
    Outcome::Read(notes, lists)
}

/// A track's notes for training from its published rows, grouped by stem in row order: stems
/// mixed with `mix_notes` (YourMT3's Slakh rule); a track without stems as published (sorted).
pub fn track_notes(stems: Vec<(Option<String>, Vec<Note>)>) -> Vec<Note> {
    if stems.iter().any(|(id, _)| id.is_some()) {
        mix_notes(stems.into_iter().map(|(_, n)| n))
    } else {
        let mut all: Vec<Note> = stems.into_iter().flat_map(|(_, n)| n).collect();
        sort_notes(&mut all);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_are_yourmt3_and_typos_are_rejected() {
        let d = NotesConfig::default();
        assert_eq!(d.adapter, AUTO);
        assert!(d.slakh_fix_bass_octave);
        assert_eq!(d.midi, MidiToNotesConfig::default());
        let stage = NotesStage;
        assert!(stage.check_config(&stage.default_config()).is_ok());
        let typo = serde_json::json!({"adapter": "auto", "midi": {"quantise": false}});
        let err = stage.check_config(&typo).unwrap_err().to_string();
        assert!(err.contains("quantise"), "{err}");
        let bad = serde_json::json!({"adapter": "slak"});
        let err = stage.check_config(&bad).unwrap_err().to_string();
        assert!(err.contains("slak") && err.contains("maestro"), "{err}");
    }

    #[test]
    fn applies_by_name_or_configured_adapter() {
        let auto = NotesStage.default_config();
        let ds = |n: &str| DatasetSpec::local(n, "/nowhere");
        assert!(skip_reason(&ds("babyslakh_16k"), &auto).is_none());
        assert!(skip_reason(&ds("maestro"), &auto).is_none());
        let why = skip_reason(&ds("alpha"), &auto).unwrap();
        assert!(why.contains("[dataset.alpha]"), "{why}");
        let slakh = serde_json::json!({"adapter": "slakh"});
        assert!(skip_reason(&ds("alpha"), &slakh).is_none());
    }

    #[test]
    fn a_stemless_track_keeps_its_notes_and_stems_are_mixed() {
        let n = |program: u8, onset: f64, offset: f64| Note {
            is_drum: false,
            program,
            onset,
            offset,
            pitch: 60,
            velocity: 1,
        };
        let plain = track_notes(vec![(None, vec![n(0, 1.0, 2.0), n(0, 0.0, 1.5)])]);
        assert_eq!(plain, vec![n(0, 0.0, 1.5), n(0, 1.0, 2.0)]);
        // Two stems of one program overlapping: the mix trims the first.
        let mixed = track_notes(vec![
            (Some("S00".into()), vec![n(30, 0.0, 1.5)]),
            (Some("S01".into()), vec![n(30, 1.0, 2.0)]),
        ]);
        assert_eq!(mixed, vec![n(30, 0.0, 1.0), n(30, 1.0, 2.0)]);
    }
}
