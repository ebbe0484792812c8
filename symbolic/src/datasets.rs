//! Dataset-specific readers and rules: Slakh, MAESTRO, GuitarSet (pure functions, no Arrow).
//!
//! Reference: `amt/src/utils/preprocess/preprocess_{slakh,maestro,guitarset}.py` and
//! `utils/mirdata_dev/{datasets/slakh16k.py,scripts/make_slakh_index.py}` at luck058/YourMT3
//! `710a835`; spec section 1.3.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::midi::{MidiToNotesConfig, midi_to_notes};
use crate::note::{
    DRUM_PROGRAM, Note, mix_notes, sort_notes, trim_overlapping_notes, validate_notes,
};

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

// ---------------------------------------------------------------------------------------------
// Slakh

/// One stem of a Slakh `metadata.yaml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SlakhStem {
    #[serde(default)]
    pub program_num: i64,
    #[serde(default)]
    pub is_drum: bool,
    #[serde(default)]
    pub audio_rendered: bool,
    #[serde(default)]
    pub midi_saved: bool,
    #[serde(default, deserialize_with = "string_or_null")]
    pub plugin_name: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub inst_class: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub midi_program_name: String,
}

/// A Slakh `metadata.yaml` (only the fields the pipeline uses; others are ignored).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct SlakhMetadata {
    #[serde(default, deserialize_with = "string_or_null")]
    pub audio_dir: String,
    #[serde(default, deserialize_with = "string_or_null")]
    pub midi_dir: String,
    /// Stem id (`S00`, ...) -> stem, in id order.
    pub stems: BTreeMap<String, SlakhStem>,
}

fn string_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<serde_norway::Value>::deserialize(d)?
        .map(|v| match v {
            serde_norway::Value::String(s) => s,
            serde_norway::Value::Number(n) => n.to_string(),
            serde_norway::Value::Bool(b) => b.to_string(),
            _ => String::new(),
        })
        .unwrap_or_default())
}

/// Parse the text of a Slakh `metadata.yaml`; `path` only names the file in errors.
pub fn parse_slakh_metadata(text: &str, path: &Path) -> Result<SlakhMetadata> {
    serde_norway::from_str(text).map_err(|e| Error::annotation(path, e.to_string()))
}

/// Which release a Slakh track folder comes from; decides the audio extension and whether the
/// `audio_rendered`/`midi_saved` flags can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlakhLayout {
    /// `slakh2100_yourmt3_16k/{split}/TrackNNNNN`, WAV stems; flags trusted.
    YourMt3_16k,
    /// `slakh2100_flac_redux/{split}/TrackNNNNN`, FLAC stems; flags trusted.
    FlacRedux,
    /// `babyslakh_16k/TrackNNNNN`, WAV stems. Its metadata marks every stem `audio_rendered:
    /// false, midi_saved: false` although the files are there (mirdata's baby index lists
    /// them), so a stem counts when its MIDI and audio files exist.
    Baby,
}

impl SlakhLayout {
    /// The release a track folder comes from, read from its files (never from folder names,
    /// which users rename): FLAC audio is the redux release; WAV stems whose metadata marks
    /// none rendered although their files exist are the baby release (flags untrusted);
    /// anything else is the YourMT3 16 kHz release (flags trusted). `exists` answers for a
    /// path relative to the track folder (`mix.flac`, `stems/S00.wav`, `MIDI/S00.mid`).
    pub fn detect(metadata: &SlakhMetadata, exists: impl Fn(&str) -> bool) -> SlakhLayout {
        let flac = exists("mix.flac")
            || metadata
                .stems
                .keys()
                .any(|id| exists(&format!("stems/{id}.flac")));
        if flac {
            return SlakhLayout::FlacRedux;
        }
        let none_flagged = metadata
            .stems
            .values()
            .all(|s| !(s.audio_rendered && s.midi_saved));
        let files_there = metadata
            .stems
            .keys()
            .any(|id| exists(&format!("stems/{id}.wav")) && exists(&format!("MIDI/{id}.mid")));
        if none_flagged && files_there {
            SlakhLayout::Baby
        } else {
            SlakhLayout::YourMt3_16k
        }
    }
}

/// A Slakh track folder with its metadata.
#[derive(Clone, Debug)]
pub struct SlakhTrack {
    pub dir: PathBuf,
    pub layout: SlakhLayout,
    pub metadata: SlakhMetadata,
}

/// A stem with its files and whether YourMT3's rule includes it.
#[derive(Clone, Debug)]
pub struct SlakhStemFiles {
    pub id: String,
    pub stem: SlakhStem,
    pub midi_path: PathBuf,
    pub audio_path: PathBuf,
    /// Included: `audio_rendered && midi_saved` (trusted layouts) and both files exist.
    pub usable: bool,
}

/// Notes of one Slakh stem after the track rules.
#[derive(Clone, Debug)]
pub struct SlakhStemNotes {
    pub id: String,
    /// Metadata program (128 for drums).
    pub program: u8,
    pub is_drum: bool,
    pub notes: Vec<Note>,
    pub length_sec: f64,
    pub bass_octave_fixed: bool,
}

/// All usable stems of a track and their mix.
#[derive(Clone, Debug)]
pub struct SlakhTrackNotes {
    pub stems: Vec<SlakhStemNotes>,
    /// `mix_notes` of all stems.
    pub notes: Vec<Note>,
    /// Longest stem MIDI.
    pub duration_sec: f64,
}

impl SlakhTrack {
    /// Open a track folder (`.../TrackNNNNN`); the layout is read from its files
    /// ([`SlakhLayout::detect`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let meta_path = dir.join("metadata.yaml");
        let text = std::fs::read_to_string(&meta_path).map_err(|e| Error::io(&meta_path, e))?;
        let metadata = parse_slakh_metadata(&text, &meta_path)?;
        let layout = SlakhLayout::detect(&metadata, |rel| dir.join(rel).is_file());
        Ok(Self {
            dir,
            layout,
            metadata,
        })
    }

    /// Stems in id order with their files; see [`SlakhStemFiles::usable`].
    pub fn stems(&self) -> Vec<SlakhStemFiles> {
        let ext = match self.layout {
            SlakhLayout::FlacRedux => "flac",
            _ => "wav",
        };
        self.metadata
            .stems
            .iter()
            .map(|(id, stem)| {
                let midi_path = self.dir.join("MIDI").join(format!("{id}.mid"));
                let audio_path = self.dir.join("stems").join(format!("{id}.{ext}"));
                let flags =
                    self.layout == SlakhLayout::Baby || (stem.audio_rendered && stem.midi_saved);
                let usable = flags && midi_path.exists() && audio_path.exists();
                SlakhStemFiles {
                    id: id.clone(),
                    stem: stem.clone(),
                    midi_path,
                    audio_path,
                    usable,
                }
            })
            .collect()
    }

    /// Notes of every usable stem and their mix (YourMT3 `create_note_event_and_note_from_mtrack_mirdata`).
    pub fn notes(&self, fix_bass_octave: bool) -> Result<SlakhTrackNotes> {
        let mut stems = Vec::new();
        for s in self.stems().into_iter().filter(|s| s.usable) {
            let bytes = read(&s.midi_path)?;
            let mut n = slakh_stem_notes(&bytes, &s.stem, fix_bass_octave)
                .map_err(|e| Error::annotation(&s.midi_path, e.to_string()))?;
            n.id = s.id;
            stems.push(n);
        }
        let duration_sec = stems.iter().map(|s| s.length_sec).fold(0.0, f64::max);
        let notes = mix_notes(stems.iter().map(|s| s.notes.clone()));
        Ok(SlakhTrackNotes {
            stems,
            notes,
            duration_sec,
        })
    }
}

/// MIDI options YourMT3 uses for a Slakh stem.
pub fn slakh_midi_config(is_drum: bool) -> MidiToNotesConfig {
    MidiToNotesConfig {
        force_all_drum: is_drum,
        ..MidiToNotesConfig::default()
    }
}

/// Slakh bass stems are annotated one octave too high, except this plugin.
pub const SLAKH_BASS_OCTAVE_EXCEPTION: &str = "scarbee_jay_bass_slap_both.nkm";

/// One stem MIDI -> notes with the Slakh rules: drums from `is_drum` (program 128), binary
/// velocity, trim, fix, quantise; bass (program 32-39) one octave down unless the plugin is
/// [`SLAKH_BASS_OCTAVE_EXCEPTION`].
pub fn slakh_stem_notes(
    midi: &[u8],
    stem: &SlakhStem,
    fix_bass_octave: bool,
) -> Result<SlakhStemNotes> {
    slakh_stem_notes_with(midi, stem, fix_bass_octave, &MidiToNotesConfig::default())
}

/// [`slakh_stem_notes`] with other base MIDI options (a pipeline's configuration): the stem's
/// `is_drum` flag still forces drums, as in [`slakh_midi_config`].
pub fn slakh_stem_notes_with(
    midi: &[u8],
    stem: &SlakhStem,
    fix_bass_octave: bool,
    base: &MidiToNotesConfig,
) -> Result<SlakhStemNotes> {
    let cfg = MidiToNotesConfig {
        force_all_drum: base.force_all_drum || stem.is_drum,
        ..base.clone()
    };
    let parsed = midi_to_notes(midi, &cfg)?;
    let mut notes = parsed.notes;
    let fix = fix_bass_octave
        && (32..=39).contains(&stem.program_num)
        && stem.plugin_name != SLAKH_BASS_OCTAVE_EXCEPTION;
    if fix {
        for (index, n) in notes.iter_mut().enumerate() {
            n.pitch = n.pitch.checked_sub(12).ok_or_else(|| Error::InvalidNote {
                index,
                reason: format!("bass pitch {} cannot move down an octave", n.pitch),
            })?;
        }
    }
    let program = if stem.is_drum {
        DRUM_PROGRAM
    } else {
        u8::try_from(stem.program_num).unwrap_or(DRUM_PROGRAM)
    };
    Ok(SlakhStemNotes {
        id: String::new(),
        program,
        is_drum: stem.is_drum,
        notes,
        length_sec: parsed.length_sec,
        bass_octave_fixed: fix,
    })
}

// ---------------------------------------------------------------------------------------------
// MAESTRO

/// One MAESTRO performance (both v2 and v3 metadata carry these columns).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct MaestroEntry {
    pub canonical_composer: String,
    pub canonical_title: String,
    pub split: String,
    pub year: i64,
    pub midi_filename: String,
    pub audio_filename: String,
    pub duration: f64,
}

/// Parse MAESTRO metadata JSON: v2 is a list of records, v3 a dict of columns keyed by row
/// index strings ("0".."1275"). Rows come back in index order.
pub fn parse_maestro_metadata(text: &str, path: &Path) -> Result<Vec<MaestroEntry>> {
    let bad = |r: String| Error::annotation(path, r);
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    match v {
        serde_json::Value::Array(_) => serde_json::from_value(v).map_err(|e| bad(e.to_string())),
        serde_json::Value::Object(cols) => {
            let first = cols
                .get("midi_filename")
                .and_then(|c| c.as_object())
                .ok_or_else(|| bad("column `midi_filename` missing or not an object".into()))?;
            let mut idx: Vec<(usize, &String)> = Vec::new();
            for k in first.keys() {
                let i = k
                    .parse::<usize>()
                    .map_err(|_| bad(format!("row key `{k}` is not an index")))?;
                idx.push((i, k));
            }
            idx.sort();
            idx.into_iter()
                .map(|(_, k)| {
                    let mut row = serde_json::Map::new();
                    for (name, col) in &cols {
                        if let Some(val) = col.get(k.as_str()) {
                            row.insert(name.clone(), val.clone());
                        }
                    }
                    serde_json::from_value(serde_json::Value::Object(row))
                        .map_err(|e| bad(format!("row {k}: {e}")))
                })
                .collect()
        }
        _ => Err(bad(
            "expected a list (v2) or an object of columns (v3)".into()
        )),
    }
}

/// MIDI options YourMT3 uses for MAESTRO: program 0 forced, sustain pedal applied.
pub fn maestro_midi_config() -> MidiToNotesConfig {
    MidiToNotesConfig {
        force_all_program_to: Some(0),
        ..MidiToNotesConfig::default()
    }
}

/// MAESTRO MIDI -> (notes, duration_sec = MIDI length + 10 ms).
pub fn maestro_notes(midi: &[u8]) -> Result<(Vec<Note>, f64)> {
    let p = midi_to_notes(midi, &maestro_midi_config())?;
    Ok((p.notes, p.length_sec + 0.01))
}

// ---------------------------------------------------------------------------------------------
// GuitarSet

/// GuitarSet program (acoustic guitar, nylon).
pub const GUITARSET_PROGRAM: u8 = 24;

/// Notes of one GuitarSet JAMS file.
#[derive(Clone, Debug, PartialEq)]
pub struct GuitarSetNotes {
    pub notes: Vec<Note>,
    /// `file_metadata.duration`.
    pub duration_sec: f64,
}

/// Read the `note_midi` annotations of a JAMS file: each observation with a float value and a
/// null confidence becomes a note (program 24, pitch = value rounded half to even as Python's
/// `round`, velocity 1); then sort, validate, trim. A JAMS without `file_metadata.duration` is
/// rejected (YourMT3 would crash on it). `path` names the file in errors.
pub fn guitarset_notes_from_jams(text: &str, path: &Path) -> Result<GuitarSetNotes> {
    let bad = |r: String| Error::annotation(path, r);
    let jam: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let duration_sec = jam
        .get("file_metadata")
        .ok_or_else(|| bad("missing `file_metadata`; not a complete JAMS file".into()))?
        .get("duration")
        .and_then(|d| d.as_f64())
        .ok_or_else(|| bad("`file_metadata.duration` missing or not a number".into()))?;
    let anns = jam
        .get("annotations")
        .and_then(|a| a.as_array())
        .ok_or_else(|| bad("missing `annotations` list".into()))?;
    let mut notes = Vec::new();
    for (ai, ann) in anns.iter().enumerate() {
        if ann.get("namespace").and_then(|n| n.as_str()) != Some("note_midi") {
            continue;
        }
        for obs in observations(ann).map_err(|r| bad(format!("annotation {ai}: {r}")))? {
            let (time, duration, value, confidence) = obs;
            let Some(value) = value.filter(|v| v.is_f64()).and_then(|v| v.as_f64()) else {
                continue;
            };
            if !confidence.is_none_or(|c| c.is_null()) {
                continue;
            }
            let pitch = value.round_ties_even();
            if !(0.0..=127.0).contains(&pitch) {
                return Err(bad(format!(
                    "annotation {ai}: note_midi value {value} is not a MIDI pitch"
                )));
            }
            notes.push(Note {
                is_drum: false,
                program: GUITARSET_PROGRAM,
                onset: time,
                offset: time + duration,
                pitch: pitch as u8,
                velocity: 1,
            });
        }
    }
    notes.sort_by(|a, b| a.order(b).then(a.offset.total_cmp(&b.offset)));
    validate_notes(&mut notes);
    let mut notes = trim_overlapping_notes(notes);
    sort_notes(&mut notes);
    Ok(GuitarSetNotes {
        notes,
        duration_sec,
    })
}

type Obs<'a> = (
    f64,
    f64,
    Option<&'a serde_json::Value>,
    Option<&'a serde_json::Value>,
);

/// Observations of a JAMS annotation in either the sparse (list of records) or the dense
/// (dict of columns) form.
fn observations(ann: &serde_json::Value) -> std::result::Result<Vec<Obs<'_>>, String> {
    let num = |v: Option<&serde_json::Value>, what: &str| {
        v.and_then(|x| x.as_f64())
            .ok_or_else(|| format!("observation `{what}` missing or not a number"))
    };
    match ann.get("data") {
        Some(serde_json::Value::Array(rows)) => rows
            .iter()
            .map(|o| {
                Ok((
                    num(o.get("time"), "time")?,
                    num(o.get("duration"), "duration")?,
                    o.get("value"),
                    o.get("confidence"),
                ))
            })
            .collect(),
        Some(serde_json::Value::Object(cols)) => {
            let col = |k: &str| {
                cols.get(k)
                    .and_then(|c| c.as_array())
                    .ok_or_else(|| format!("dense column `{k}` missing"))
            };
            let (t, d, v, c) = (
                col("time")?,
                col("duration")?,
                col("value")?,
                col("confidence")?,
            );
            (0..t.len())
                .map(|i| {
                    Ok((
                        num(t.get(i), "time")?,
                        num(d.get(i), "duration")?,
                        v.get(i),
                        c.get(i),
                    ))
                })
                .collect()
        }
        _ => Err("`data` is neither a list nor a dict of columns".into()),
    }
}

/// Read and convert a JAMS file from disk.
pub fn read_guitarset_jams(path: &Path) -> Result<GuitarSetNotes> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|e| Error::annotation(path, e.to_string()))?;
    guitarset_notes_from_jams(&text, path)
}
