//! Dataset adapters: what a dataset's folder holds and how to read it. Stages are generic;
//! adapters are data (design.md, "Data flow").
//!
//! An adapter, one file per dataset, knows
//! - which files form a track ([`Adapter::tracks`]): Slakh a `TrackNNNNN/metadata.yaml` folder,
//!   MAESTRO a row of its `maestro-v*.json`, GuitarSet an `annotation/*.jams` file;
//! - its stems and annotations, and how to read them into notes ([`Adapter::read_track`]), with
//!   the readers of `amt_symbolic::datasets` and that dataset's YourMT3 rules.
//!
//! Adapters work from the file list `extract` published (`files.parquet`, see [`DatasetFiles`]),
//! never from a directory walk, and every file they read is checked against the blake3 that
//! `extract` recorded: a file changed since then fails the stage ("run again") instead of
//! publishing new content under the old key.
//!
//! A track that cannot be read (a corrupt MIDI, an invalid JAMS, a missing `metadata.yaml`) is
//! returned as a [`Problem`] naming the file: the stage quarantines it in the `problems` table
//! and publishes the other tracks. A folder with no recognisable layout at all is an error.
//!
//! ## Choosing an adapter
//! The `notes` stage's `adapter` setting picks one: `"slakh"`, `"maestro"`, `"guitarset"`,
//! `"egmd"`, `"mir_st500"`, `"cmedia"`, `"urmp"`, `"maps"`, `"enstdrums"`,
//! `"musicnet"`, `"geerdes"`, `"idmt_smt_bass"`,
//! `"rwc_pop"`, or
//! `"auto"` (the default), which takes the adapter whose name the dataset's name contains,
//! ignoring case (`babyslakh_16k`, `slakh2100_flac_redux` -> slakh; `maestro-v3.0.0` ->
//! maestro; `GuitarSet` -> guitarset). A dataset with another name gets no `notes` stage
//! unless its configuration names the adapter:
//! ```toml
//! [dataset.mydata.stage.notes]
//! adapter = "slakh"
//! ```
//! Official splits are read by the `split` stage (not built yet).

pub mod egmd;
pub mod enst;
pub mod geerdes;
pub mod guitarset;
pub mod idmt;
pub mod maestro;
pub mod maps;
pub mod musicnet;
pub mod rwc;
pub mod singing;
pub mod slakh;
pub mod synth_demo;
pub mod urmp;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use amt_symbolic::{MidiToNotesConfig, Note};
use arrow::array::{Array, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Error, Result};

/// The adapters, by the name `adapter = "..."` takes.
pub const NAMES: &[&str] = &[
    slakh::NAME,
    maestro::NAME,
    guitarset::NAME,
    egmd::NAME,
    singing::MIR_ST500.name,
    singing::CMEDIA.name,
    urmp::NAME,
    maps::NAME,
    enst::NAME,
    musicnet::NAME,
    geerdes::NAME,
    idmt::NAME,
    rwc::NAME,
    synth_demo::NAME,
];

/// A dataset's layout and annotation reader.
pub trait Adapter: Send + Sync {
    /// `slakh`, `maestro`, `guitarset`.
    fn name(&self) -> &'static str;

    /// The tracks of the dataset, in a stable order, and the would-be tracks that cannot be
    /// used (as problems). An error means the folder does not have this layout at all.
    fn tracks(&self, files: &DatasetFiles) -> Result<Listing>;

    /// Reads one track's notes. `Ok(Err(problem))` quarantines the track; `Err` fails the
    /// stage (a file changed since `extract`, an unreadable file).
    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        options: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>>;

    /// The audio of one track: its stems and mixes, and every file the track depends on.
    /// `Ok(Err(problem))` when the track has no usable audio (a missing file).
    fn audio(&self, files: &DatasetFiles, track: &TrackSpec)
    -> Result<Result<TrackAudio, Problem>>;

    /// (track, list) rows: the dataset's official split of each track (`train`, `validation`,
    /// `test`: at most one per track), as YourMT3 reads it, and YourMT3's other named lists
    /// (a track may be in many, e.g. GuitarSet's `progression_1`, `BN`, `all`); tracks it does
    /// not place are left out. `seed` drives the splits YourMT3 drew at random (GuitarSet's
    /// players).
    fn splits(
        &self,
        files: &DatasetFiles,
        tracks: &[TrackSpec],
        seed: u64,
    ) -> Result<Vec<(String, String)>>;
}

/// Where a track's audio comes from (see [`Adapter::audio`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackAudio {
    /// Separately rendered or recorded sources, each with its program (Slakh stems, GuitarSet's
    /// six hexaphonic strings). Empty for datasets without stems.
    pub stems: Vec<StemSource>,
    /// What the model hears: a file, or a weighted sum of stems (ENST's accompaniment mixes).
    /// Datasets with several (GuitarSet's mic and pickup mix) give one training entry each.
    pub mixes: Vec<MixSource>,
    /// Every dataset file the track's audio and notes depend on (dataset-relative): a change to
    /// any of them rebuilds this track's parts, and only this track's.
    pub deps: Vec<String>,
}

/// One stem of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct StemSource {
    pub stem_id: String,
    pub path: String,
    pub channels: crate::audio::Channels,
    /// 0-127 GM program, 128 drums, 129 unannotated.
    pub program: u8,
    pub is_drum: bool,
}

/// One mix of a track.
#[derive(Debug, Clone, PartialEq)]
pub struct MixSource {
    /// `mix`, `mic`, `accompaniment_mix_r2`...
    pub name: String,
    pub kind: MixKind,
}

impl MixSource {
    /// A mix that is one file of the dataset, mixed down to mono.
    pub fn file(name: impl Into<String>, path: impl Into<String>) -> MixSource {
        MixSource {
            name: name.into(),
            kind: MixKind::File {
                path: path.into(),
                channels: crate::audio::Channels::Downmix,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MixKind {
    /// A file of the dataset.
    File {
        path: String,
        channels: crate::audio::Channels,
    },
    /// A weighted sum of the track's stems (by stem id), optionally peak-normalised.
    Weights {
        weights: Vec<(String, f32)>,
        /// Divide each stem by its own peak before weighting (ENST's accompaniment mixes).
        normalise_stems: bool,
        peak_normalise: bool,
    },
}

/// The adapter named `name` (one of [`NAMES`]).
pub fn by_name(name: &str) -> Option<Box<dyn Adapter>> {
    match name {
        slakh::NAME => Some(Box::new(slakh::Slakh)),
        maestro::NAME => Some(Box::new(maestro::Maestro)),
        guitarset::NAME => Some(Box::new(guitarset::GuitarSet::default())),
        egmd::NAME => Some(Box::new(egmd::Egmd)),
        n if n == singing::MIR_ST500.name => Some(Box::new(singing::MIR_ST500)),
        n if n == singing::CMEDIA.name => Some(Box::new(singing::CMEDIA)),
        urmp::NAME => Some(Box::new(urmp::Urmp)),
        maps::NAME => Some(Box::new(maps::Maps)),
        enst::NAME => Some(Box::new(enst::Enst)),
        musicnet::NAME => Some(Box::new(musicnet::MusicNet)),
        geerdes::NAME => Some(Box::new(geerdes::Geerdes)),
        idmt::NAME => Some(Box::new(idmt::IdmtSmtBass)),
        rwc::NAME => Some(Box::new(rwc::RwcPop)),
        synth_demo::NAME => Some(Box::new(synth_demo::SynthDemo)),
        _ => None,
    }
}

/// The adapter named `name` with its options (`[dataset.D.adapter]`): an unknown option, or
/// a value that does not parse, is an error naming it and the options the adapter takes.
pub fn configured(
    name: &str,
    options: &BTreeMap<String, String>,
) -> std::result::Result<Option<Box<dyn Adapter>>, String> {
    match name {
        guitarset::NAME => Ok(Some(Box::new(guitarset::GuitarSet::with_options(options)?))),
        _ => match options.keys().next() {
            Some(k) => Err(format!(
                "adapter `{name}` takes no options; remove `{k}` from `[dataset.<name>.adapter]`"
            )),
            None => Ok(by_name(name)),
        },
    }
}

/// The adapter chosen for a dataset (see [`crate::DatasetSpec::adapter`]), with its options
/// (checked when the dataset was resolved).
pub fn of(dataset: &crate::DatasetSpec) -> Option<Box<dyn Adapter>> {
    configured(dataset.adapter.as_deref()?, &dataset.adapter_options)
        .ok()
        .flatten()
}

/// The adapter's name and options as inputs of every key that uses it: changing a dataset's
/// adapter or an option rebuilds what it read.
pub fn key_input(dataset: &crate::DatasetSpec) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = dataset
        .adapter
        .iter()
        .map(|a| ("adapter".to_string(), a.clone()))
        .collect();
    for (k, v) in &dataset.adapter_options {
        out.insert(format!("adapter.{k}"), v.clone());
    }
    out
}

/// Why a dataset has no adapter, with the fix.
pub fn missing_reason(name: &str) -> String {
    format!(
        "no dataset adapter for `{name}`: its name contains none of {}; set `adapter = \"...\"` \
         in `[dataset.{name}]` of amt.toml (or, as before, in `[dataset.{name}.stage.notes]`)",
        NAMES.join(", "),
    )
}

/// The adapter name a dataset name implies: the one of [`NAMES`] it contains, ignoring case;
/// `None` when none does, or when several do (see [`detect_all`]).
pub fn detect(dataset: &str) -> Option<&'static str> {
    match detect_all(dataset).as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// Every adapter name a dataset name contains, ignoring case (more than one: ambiguous).
pub fn detect_all(dataset: &str) -> Vec<&'static str> {
    let lower = dataset.to_lowercase();
    NAMES
        .iter()
        .copied()
        .filter(|n| lower.contains(n))
        .collect()
}

/// Options every adapter reads with (the `notes` stage's configuration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// Base MIDI -> notes options; each adapter adds its dataset's fixed rules on top (Slakh
    /// drums from the metadata, MAESTRO program 0).
    pub midi: MidiToNotesConfig,
    /// Slakh: bass stems (programs 32-39) one octave down.
    pub slakh_fix_bass_octave: bool,
}

/// What [`Adapter::tracks`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listing {
    pub tracks: Vec<TrackSpec>,
    pub problems: Vec<Problem>,
}

/// One track: its id (unique in the dataset) and the file that defines it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackSpec {
    pub id: String,
    /// Relative to the dataset folder, `/`-separated.
    pub source: String,
    /// Facts the listing read for this track that later readers need (MAESTRO's
    /// `audio_filename` and `split` from its metadata).
    pub meta: BTreeMap<String, String>,
}

/// `TrackSpec::meta` key of a pitch-shifted rendering's shift in semitones: the `stem` stage
/// shifts every source of such a track (GuitarSet's `_pshift` tracks).
pub const META_PITCH_SHIFT: &str = "pitch_shift";

impl TrackSpec {
    /// The semitones this track's audio is shifted by (0: as recorded).
    pub fn pitch_shift(&self) -> i32 {
        self.meta
            .get(META_PITCH_SHIFT)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// A `meta` value, or "" when absent.
    pub fn meta_str(&self, key: &str) -> &str {
        self.meta.get(key).map_or("", String::as_str)
    }
}

/// An input that cannot be used, and why; becomes a row of `problems`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The offending file, relative to the dataset folder.
    pub path: String,
    pub error: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, error: impl std::fmt::Display) -> Self {
        Problem {
            path: path.into(),
            error: error.to_string(),
        }
    }
}

/// The notes of one track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackNotes {
    /// YourMT3's `duration_sec` for the dataset.
    pub duration_s: f64,
    /// One entry per stem read (one entry with `stem_id: None` for datasets without stems).
    pub stems: Vec<StemNotes>,
}

/// The notes of one stem (or of a whole track without stems).
#[derive(Debug, Clone, PartialEq)]
pub struct StemNotes {
    pub stem_id: Option<String>,
    /// Sorted as YourMT3 sorts notes; each note carries its program and drum flag.
    pub notes: Vec<Note>,
}

/// The files of a dataset as `extract` fingerprinted them, and its folder.
#[derive(Debug, Clone)]
pub struct DatasetFiles {
    pub dataset: String,
    pub folder: PathBuf,
    /// Relative path -> blake3 (lowercase hex).
    files: BTreeMap<String, String>,
}

impl DatasetFiles {
    /// Reads `files.parquet` of an `extract` artifact.
    pub fn from_parquet(dataset: &str, folder: &Path, parquet: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Table {
            path: parquet.to_owned(),
            reason,
        };
        let file = std::fs::File::open(parquet).map_err(|e| bad(e.to_string()))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| bad(e.to_string()))?;
        let mut files = BTreeMap::new();
        for batch in reader {
            let batch = batch.map_err(|e| bad(e.to_string()))?;
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<StringArray>())
                    .ok_or_else(|| bad(format!("no Utf8 column `{name}`")))
            };
            let (paths, hashes) = (column("path")?, column("blake3")?);
            for i in 0..batch.num_rows() {
                if paths.is_valid(i) && hashes.is_valid(i) {
                    files.insert(paths.value(i).to_string(), hashes.value(i).to_string());
                }
            }
        }
        Ok(Self::new(dataset, folder, files))
    }

    /// The blake3 `extract` recorded for a file.
    pub fn digest(&self, rel: &str) -> Option<&str> {
        self.files.get(rel).map(String::as_str)
    }

    /// A file list built in memory (tests, adapters of generated data).
    pub fn new(dataset: &str, folder: &Path, files: BTreeMap<String, String>) -> Self {
        DatasetFiles {
            dataset: dataset.to_string(),
            folder: folder.to_owned(),
            files,
        }
    }

    pub fn contains(&self, rel: &str) -> bool {
        self.files.contains_key(rel)
    }

    /// Relative paths, sorted.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The absolute path of a file of the dataset.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.folder.join(rel)
    }

    /// Reads a file of the dataset and checks it is still the content `extract` fingerprinted.
    pub fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let Some(want) = self.files.get(rel) else {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "`{rel}` is not in the file list of dataset `{}`; run `extract` again",
                    self.dataset
                ),
            )));
        };
        let bytes = fs_err::read(self.abs(rel))?;
        if blake3::hash(&bytes).to_hex().as_str() != want {
            return Err(Error::InputChanged {
                dataset: self.dataset.clone(),
                stage: "notes".into(),
                input: rel.to_string(),
            });
        }
        Ok(bytes)
    }

    /// [`DatasetFiles::read`] as UTF-8 text; invalid text is a problem of that file.
    pub fn read_text(&self, rel: &str) -> Result<Result<String, Problem>> {
        let bytes = self.read(rel)?;
        Ok(String::from_utf8(bytes).map_err(|e| Problem::new(rel, format!("not UTF-8 text: {e}"))))
    }
}

/// The parent folder of a relative path (`""` at the top).
pub(crate) fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// `dir/name`, or `name` when `dir` is the top.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The file name of a relative path without its extension.
pub(crate) fn file_stem(rel: &str) -> &str {
    let name = rel.rsplit_once('/').map(|(_, n)| n).unwrap_or(rel);
    name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name)
}

/// The audio of a track that is one file of the dataset (mixed down to mono), mix `mix`; the
/// track's own file and `extra_deps` are its other dependencies. A missing file is a problem.
pub(crate) fn file_mix_audio(
    files: &DatasetFiles,
    track: &TrackSpec,
    audio: &str,
    mix: &str,
    extra_deps: &[&str],
) -> Result<std::result::Result<TrackAudio, Problem>> {
    if audio.is_empty() || !files.contains(audio) {
        return Ok(Err(Problem::new(
            if audio.is_empty() {
                &track.source
            } else {
                audio
            },
            format!("the audio of `{}` is not in the dataset folder", track.id),
        )));
    }
    let mut deps = vec![track.source.clone(), audio.to_string()];
    deps.extend(extra_deps.iter().map(|d| d.to_string()));
    deps.sort();
    deps.dedup();
    Ok(Ok(TrackAudio {
        stems: Vec::new(),
        mixes: vec![MixSource::file(mix.to_string(), audio.to_string())],
        deps,
    }))
}

/// A layout error of adapter `adapter` for the dataset of `files`.
pub(crate) fn layout_error(
    files: &DatasetFiles,
    adapter: &str,
    reason: impl Into<String>,
) -> Error {
    Error::Layout {
        dataset: files.dataset.clone(),
        adapter: adapter.into(),
        reason: reason.into(),
    }
}

/// The dataset's metadata file whose name `is_it` accepts (the last in sorted order: the
/// newest version) and its text; a layout error saying `missing` when there is none.
pub(crate) fn metadata_text(
    files: &DatasetFiles,
    adapter: &str,
    is_it: impl Fn(&str) -> bool,
    missing: &str,
) -> Result<(String, String)> {
    let Some(rel) = files
        .paths()
        .filter(|p| is_it(p.rsplit('/').next().unwrap_or(p)))
        .last()
        .map(str::to_string)
    else {
        return Err(layout_error(
            files,
            adapter,
            format!("{missing} under `{}`", files.folder.display()),
        ));
    };
    let text = String::from_utf8(files.read(&rel)?)
        .map_err(|e| layout_error(files, adapter, format!("`{rel}` is not UTF-8 text: {e}")))?;
    Ok((rel, text))
}

/// CSV rows, each with the line it starts on.
pub(crate) type CsvRows = Vec<(usize, Vec<String>)>;

/// A CSV metadata file's header and rows (with their lines); a layout error when it is empty.
pub(crate) fn csv_table(
    files: &DatasetFiles,
    adapter: &str,
    rel: &str,
    text: &str,
) -> Result<(Vec<String>, CsvRows)> {
    let mut rows = parse_csv(text).into_iter();
    let Some((_, header)) = rows.next() else {
        return Err(layout_error(files, adapter, format!("`{rel}` is empty")));
    };
    Ok((header, rows.collect()))
}

/// The index of column `name` in a CSV header; a layout error naming the file when absent.
pub(crate) fn csv_column(
    files: &DatasetFiles,
    adapter: &str,
    rel: &str,
    header: &[String],
    name: &str,
) -> Result<usize> {
    header.iter().position(|h| h.trim() == name).ok_or_else(|| {
        layout_error(
            files,
            adapter,
            format!("`{rel}` has no `{name}` column (header line 1)"),
        )
    })
}

/// The notes of a track without stems, or the problem reading them.
/// A track whose notes are one MIDI file (`track.source`) read with `cfg`; `post` adjusts the
/// notes and the length (seconds) the reader gives.
pub(crate) fn midi_single_stem(
    files: &DatasetFiles,
    track: &TrackSpec,
    cfg: &amt_symbolic::MidiToNotesConfig,
    post: impl FnOnce(Vec<Note>, f64) -> (Vec<Note>, f64),
) -> Result<std::result::Result<TrackNotes, Problem>> {
    let bytes = files.read(&track.source)?;
    let parsed = amt_symbolic::midi_to_notes(&bytes, cfg)
        .map(|p| post(p.notes, p.length_sec))
        .map_err(|e| e.to_string());
    Ok(single_stem(&track.source, parsed))
}

/// [`file_mix_audio`] of the file in `meta["audio"]`, depending also on the files named by
/// `dep_keys` in `meta`.
pub(crate) fn meta_mix_audio(
    files: &DatasetFiles,
    track: &TrackSpec,
    mix: &str,
    dep_keys: &[&str],
) -> Result<std::result::Result<TrackAudio, Problem>> {
    let deps: Vec<&str> = dep_keys.iter().map(|k| track.meta_str(k)).collect();
    file_mix_audio(files, track, track.meta_str("audio"), mix, &deps)
}

pub(crate) fn single_stem(
    source: &str,
    notes: std::result::Result<(Vec<Note>, f64), String>,
) -> std::result::Result<TrackNotes, Problem> {
    match notes {
        Ok((notes, duration_s)) => Ok(TrackNotes {
            duration_s,
            stems: vec![StemNotes {
                stem_id: None,
                notes,
            }],
        }),
        Err(e) => Err(Problem::new(source, e)),
    }
}

/// (track id, list) rows from each track's `split` fact.
pub(crate) fn meta_splits(tracks: &[TrackSpec]) -> Vec<(String, String)> {
    tracks
        .iter()
        .filter_map(|t| Some((t.id.clone(), t.meta.get("split")?.clone())))
        .collect()
}

/// CSV rows (RFC 4180: quoted fields may hold commas, doubled quotes and line breaks), each
/// with the 1-based line it starts on. Empty lines are skipped.
pub(crate) fn parse_csv(text: &str) -> CsvRows {
    let mut rows = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let (mut line, mut start) = (1usize, 1usize);
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    let mut end_row = |fields: &mut Vec<String>, field: &mut String, start: usize| {
        fields.push(std::mem::take(field));
        if !(fields.len() == 1 && fields[0].trim().is_empty()) {
            rows.push((start, std::mem::take(fields)));
        }
        fields.clear();
    };
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
            (false, '"') => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                end_row(&mut fields, &mut field, start);
                line += 1;
                start = line;
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !fields.is_empty() {
        end_row(&mut fields, &mut field, start);
    }
    rows
}

/// Keeps the first track of each id; later ones become problems naming both files.
pub(crate) fn dedup_ids(tracks: Vec<TrackSpec>, problems: &mut Vec<Problem>) -> Vec<TrackSpec> {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::with_capacity(tracks.len());
    for t in tracks {
        if let Some(first) = seen.get(&t.id) {
            problems.push(Problem::new(
                &t.source,
                format!(
                    "duplicate track id `{}` (already read from `{first}`); give each copy its own dataset folder",
                    t.id
                ),
            ));
        } else {
            seen.insert(t.id.clone(), t.source.clone());
            out.push(t);
        }
    }
    out
}

/// Helpers for the adapters' tests: fixture paths and in-memory file lists of a folder.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    use super::DatasetFiles;

    /// `$AMT_SHARED/fixtures`, else `shared/fixtures` beside the repository.
    pub fn fixtures() -> PathBuf {
        let base = std::env::var_os("AMT_SHARED")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"));
        base.join("fixtures")
    }

    /// Every file under `dir` with its blake3, as `extract` would list them.
    pub fn scan(dataset: &str, dir: &Path) -> DatasetFiles {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/");
                    let hash = blake3::hash(&std::fs::read(&p).unwrap())
                        .to_hex()
                        .to_string();
                    out.insert(rel, hash);
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files);
        DatasetFiles::new(dataset, dir, files)
    }

    /// The tracks of list `list` in (track, list) rows, sorted.
    pub fn in_list<'a>(rows: &'a [(String, String)], list: &str) -> Vec<&'a str> {
        let mut v: Vec<&str> = rows
            .iter()
            .filter(|r| r.1 == list)
            .map(|r| r.0.as_str())
            .collect();
        v.sort();
        v
    }

    /// Copies a file, creating the destination's folders.
    pub fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_by_contained_name() {
        assert_eq!(detect("babyslakh_16k"), Some("slakh"));
        assert_eq!(detect("slakh2100_flac_redux"), Some("slakh"));
        assert_eq!(detect("maestro-v3.0.0"), Some("maestro"));
        assert_eq!(detect("GuitarSet"), Some("guitarset"));
        assert_eq!(detect("alpha"), None);
        for n in NAMES {
            assert_eq!(by_name(n).unwrap().name(), *n);
        }
        assert!(by_name("auto").is_none());
    }

    #[test]
    fn path_helpers() {
        assert_eq!(parent("a/b/c.mid"), "a/b");
        assert_eq!(parent("c.mid"), "");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("a", "x"), "a/x");
        assert_eq!(file_stem("2018/x--1.midi"), "x--1");
        assert_eq!(file_stem("noext"), "noext");
    }

    #[test]
    fn read_checks_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.mid"), b"abc").unwrap();
        let good = BTreeMap::from([(
            "a.mid".to_string(),
            blake3::hash(b"abc").to_hex().to_string(),
        )]);
        let files = DatasetFiles::new("d", dir.path(), good);
        assert_eq!(files.read("a.mid").unwrap(), b"abc");
        std::fs::write(dir.path().join("a.mid"), b"abd").unwrap();
        assert!(
            matches!(files.read("a.mid"), Err(Error::InputChanged { input, .. }) if input == "a.mid")
        );
        assert!(files.read("b.mid").is_err());
    }

    #[test]
    fn duplicate_ids_become_problems() {
        let t = |id: &str, src: &str| TrackSpec {
            id: id.into(),
            source: src.into(),
            ..TrackSpec::default()
        };
        let mut problems = Vec::new();
        let kept = dedup_ids(
            vec![
                t("A", "x/A/m.yaml"),
                t("B", "x/B/m.yaml"),
                t("A", "y/A/m.yaml"),
            ],
            &mut problems,
        );
        assert_eq!(kept, vec![t("A", "x/A/m.yaml"), t("B", "x/B/m.yaml")]);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "y/A/m.yaml");
        assert!(problems[0].error.contains("x/A/m.yaml"));
    }
}

#[cfg(test)]
mod csv_tests {
    use super::parse_csv;

    #[test]
    fn csv_quotes_commas_line_breaks_and_line_numbers() {
        let rows = parse_csv("a,b,c\r\n1,\"x, y\",\"say \"\"hi\"\"\"\n\n2,\"two\nlines\",z\n3,,\n");
        let lines: Vec<usize> = rows.iter().map(|r| r.0).collect();
        assert_eq!(lines, [1, 2, 4, 6]);
        assert_eq!(rows[1].1, ["1", "x, y", "say \"hi\""]);
        assert_eq!(rows[2].1, ["2", "two\nlines", "z"]);
        assert_eq!(rows[3].1, ["3", "", ""]);
        // No final line break.
        assert_eq!(parse_csv("a,b").len(), 1);
    }
}
