//! `shards`: every track of a dataset cut into 32767-sample segments (the evaluation layout:
//! non-overlapping from sample 0, the last one zero-padded), each with its spectrogram (the
//! model's front-end, [`amt_model::frontend`]) and its token targets (the tokenizer of the task,
//! ties included), in Arrow IPC shard files grouped by track, plus the `segments` table that
//! locates every segment.
//!
//! One artifact per dataset and variant: the slot `dataset@<codec>-<hop>-<task>`, so shards of
//! the `melspec` and the `spec` codec (or of two tasks) live side by side. Track-grained: one
//! part per track, reused when the track's audio, notes and split are unchanged.
//!
//! ## Shard files
//! `parts/<track>/shard-<mix>.arrow`, one per mix of the track, record batches of up to
//! [`BATCH_ROWS`] segments, columns:
//! - `start_sample` (UInt64): where the segment starts in the mix;
//! - `spectrogram` (FixedSizeList<Float32, frames x bins>): 256 x 512 (melspec, hop 128) or
//!   110 x 1024 (spec, hop 300), row-major (frame, bin), normalised as the model sees it;
//! - `tokens` (FixedSizeList<UInt16, channels x length>): 1 x 1024 (`mt3_full_plus`) or 13 x 256
//!   (`mc13_full_plus_256`), channel-major, PAD-filled.
//!
//! Bytes per segment: melspec 524,288 (spectrogram) + 2,048 (tokens) + 8; spec 450,560 +
//! 2,048 + 8; float32 keeps the spectrogram exactly what the front-end computes. The stored
//! spectrogram equals the front-end applied to the segment's audio (tested); the training
//! stream draws random offsets from the `stem` audio when configured, not from these.
//!
//! ## Configuration (`[stage.shards]`)
//! ```toml
//! [stage.shards]
//! codec = "melspec"      # or "spec"
//! hop_length = 128       # 300 for spec; default: the codec's
//! task = "mt3_full_plus" # or "mc13_full_plus_256"
//! n_mels = 512           # mel bands of melspec
//! train_stride = 8192    # training tracks: a segment every 8192 samples (default: 32767)
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use amt_model::frontend::{Codec, FrontEnd};
use amt_schemas::segments::{self, SegmentRow, SegmentsBuilder};
use amt_symbolic::NoteEventList;
use amt_symbolic::tokenizer::{
    SAMPLE_RATE, SEGMENT_SAMPLES, SEGMENT_SEC, Task, segment_start_times_for_samples,
};
use amt_symbolic::vocab::PAD;
use arrow::array::{ArrayRef, FixedSizeListArray, Float32Array, UInt16Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audio::pcm;
use crate::parts::{Unit, build_parts, consolidate_table, unit_digest};
use crate::{DatasetSpec, Error, Job, PlanContext, Result, Stage, parse_config};

pub const NAME: &str = "shards";
/// v1: spectrogram + tokens, evaluation layout. v3: `melspec` computed in float32 (values
/// within 1.2e-5 of v2's).
pub const VERSION: u32 = 3;
/// Segments per record batch of a shard file.
pub const BATCH_ROWS: usize = 16;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShardsConfig {
    pub codec: String,
    /// The STFT hop; `None`: the codec's (128 melspec, 300 spec).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hop_length: Option<i64>,
    /// Mel bands of `melspec` (YourMT3's `-nmel`); `None`: 512.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_mels: Option<i64>,
    pub task: String,
    /// Samples between the starts of training segments (tracks of the `train` split): `None`
    /// is the evaluation layout (32767, no overlap); smaller gives overlapping segments at
    /// more offsets, a fixed stand-in for YourMT3's random crops. Other splits always use the
    /// evaluation layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_stride: Option<u64>,
}

impl Default for ShardsConfig {
    fn default() -> Self {
        ShardsConfig {
            codec: "melspec".into(),
            hop_length: None,
            n_mels: None,
            task: "mt3_full_plus".into(),
            train_stride: None,
        }
    }
}

impl ShardsConfig {
    pub fn codec(&self) -> Result<Codec> {
        Codec::parse(&self.codec).ok_or_else(|| Error::Config {
            stage: NAME.into(),
            reason: format!("codec `{}` is unknown; use `melspec` or `spec`", self.codec),
        })
    }

    pub fn hop(&self) -> Result<i64> {
        Ok(self.hop_length.unwrap_or(self.codec()?.default_hop()))
    }

    pub fn task(&self) -> Result<Task> {
        Task::from_name(&self.task).map_err(|e| Error::Config {
            stage: NAME.into(),
            reason: e.to_string(),
        })
    }

    pub fn n_mels(&self) -> i64 {
        self.n_mels.unwrap_or(amt_model::frontend::N_MELS)
    }

    /// The slot variant: `<codec>-<hop>-<task>`, the codec followed by its mel bands when they
    /// are not 512 (`melspec128-128-mt3_full_plus`), and `-s<stride>` with a training stride.
    pub fn variant(&self) -> Result<String> {
        let mels = match (self.codec()?, self.n_mels) {
            (Codec::Melspec, Some(n)) if n != amt_model::frontend::N_MELS => n.to_string(),
            _ => String::new(),
        };
        let stride = match self.stride()? {
            Some(s) => format!("-s{s}"),
            None => String::new(),
        };
        Ok(format!(
            "{}{mels}-{}-{}{stride}",
            self.codec,
            self.hop()?,
            self.task
        ))
    }

    /// The training stride when it differs from the evaluation layout.
    pub fn stride(&self) -> Result<Option<u64>> {
        match self.train_stride {
            Some(0) => Err(Error::Config {
                stage: NAME.into(),
                reason: "train_stride must be at least 1 sample".into(),
            }),
            Some(s) if s < SEGMENT_SAMPLES as u64 => Ok(Some(s)),
            _ => Ok(None),
        }
    }
}

/// The schema of a shard file for a (frames x bins) spectrogram and (channels x length)
/// tokens.
pub fn shard_schema(spec_len: i32, token_len: i32) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("start_sample", DataType::UInt64, false),
        Field::new(
            "spectrogram",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::Float32, false)),
                spec_len,
            ),
            false,
        ),
        Field::new(
            "tokens",
            DataType::FixedSizeList(
                Arc::new(Field::new("item", DataType::UInt16, false)),
                token_len,
            ),
            false,
        ),
    ]))
}

static DEFAULT: LazyLock<ShardsConfig> = LazyLock::new(ShardsConfig::default);

pub struct ShardsStage;

impl Stage for ShardsStage {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        vec![
            crate::notes::NAME.to_string(),
            crate::stem::NAME.to_string(),
            crate::split::NAME.to_string(),
        ]
    }

    fn variant(&self, config: &Value) -> Option<String> {
        parse_config::<ShardsConfig>(NAME, config)
            .ok()
            .and_then(|c| c.variant().ok())
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(&*DEFAULT).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        let c: ShardsConfig = parse_config(NAME, config)?;
        c.codec()?;
        c.task()?;
        if c.n_mels() <= 0 || c.n_mels() > 1024 {
            return Err(Error::Config {
                stage: NAME.into(),
                reason: "`n_mels` must be between 1 and 1024".into(),
            });
        }
        if c.hop()? <= 0 {
            return Err(Error::Config {
                stage: NAME.into(),
                reason: "`hop_length` must be positive".into(),
            });
        }
        Ok(())
    }

    fn skip_reason(&self, dataset: &DatasetSpec, _: &Value) -> Option<String> {
        dataset
            .adapter
            .is_none()
            .then(|| crate::adapters::missing_reason(&dataset.name))
    }

    fn external_inputs(&self, _: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        Ok(BTreeMap::new())
    }

    fn run(&self, job: &mut Job<'_>) -> Result<()> {
        let cfg: ShardsConfig = parse_config(NAME, job.config)?;
        let (codec, hop, task) = (cfg.codec()?, cfg.hop()?, cfg.task()?);
        let stride = cfg.stride()?;
        let up = |name: &str| {
            job.upstream.get(name).ok_or_else(|| Error::Config {
                stage: NAME.into(),
                reason: format!("upstream `{name}` has no artifact"),
            })
        };
        let (notes_art, stem_art, split_art) = (
            up(crate::notes::NAME)?,
            up(crate::stem::NAME)?,
            up(crate::split::NAME)?,
        );
        let mixes = read_mixes(stem_art)?;
        let splits = crate::split::read_splits(split_art)?;
        let notes = crate::notes::read::all_track_notes(notes_art)?;
        // A unit per track with a mix and notes: its digest covers its audio part, its notes
        // and its split.
        let mut units = Vec::new();
        for track in mixes.keys() {
            let Some(groups) = notes.get(track) else {
                continue;
            };
            let audio_digest = stem_art
                .manifest
                .parts
                .get(track)
                .map(|p| p.digest.clone())
                .unwrap_or_default();
            let notes_digest = notes_digest(groups);
            let split = splits
                .get(track)
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            units.push(Unit {
                id: track.clone(),
                digest: unit_digest(
                    NAME,
                    job.config,
                    VERSION,
                    track,
                    &[
                        ("audio", &audio_digest),
                        ("notes", &notes_digest),
                        ("split", &split),
                    ],
                ),
                deps: Default::default(),
            });
        }
        // Tracks run in parallel; each front-end call uses one thread.
        tch::set_num_threads(1);
        let ds = job.dataset.name.clone();
        job.progress.begin("computing shards", false);
        let (parts, _) = build_parts(job, &units, |u, w| {
            let groups = notes[&u.id].clone();
            let mixed = crate::notes::track_notes(groups);
            let events = NoteEventList::from_notes(&mixed).map_err(|e| Error::Table {
                path: notes_art.dir.clone(),
                reason: format!("notes of `{}`: {e}", u.id),
            })?;
            let split = splits
                .get(&u.id)
                .cloned()
                .unwrap_or_else(|| "unknown".into());
            let part_dir = amt_cache::parts::part_dir_name(&u.id);
            let fe = FrontEnd::with_mels(codec, hop, cfg.n_mels(), tch::Device::Cpu);
            let mut rows = SegmentsBuilder::new();
            let mut n_segments = 0u64;
            let mut unassigned = 0u64;
            for mix in &mixes[&u.id] {
                let audio = pcm::read_batch(&stem_art.dir.join(&mix.file), mix.batch as usize)
                    .map_err(|reason| Error::Table {
                        path: stem_art.dir.join(&mix.file),
                        reason,
                    })?;
                let shard_rel = format!("shard-{}.arrow", mix.name);
                let sink = w.create(&shard_rel)?;
                let spec_len = (fe.frames(SEGMENT_SAMPLES as i64) * fe.bins()) as i32;
                let token_len = (task.num_channels * task.max_len) as i32;
                let schema = shard_schema(spec_len, token_len);
                let mut writer =
                    arrow::ipc::writer::FileWriter::try_new(sink, &schema).map_err(arrow_err)?;
                let starts: Vec<usize> = match stride {
                    Some(step) if split == "train" => {
                        (0..audio.len().max(1)).step_by(step as usize).collect()
                    }
                    _ => (0..segment_start_times_for_samples(audio.len()).len())
                        .map(|i| i * SEGMENT_SAMPLES)
                        .collect(),
                };
                for (chunk_i, chunk) in starts.chunks(BATCH_ROWS).enumerate() {
                    let mut wave = vec![0f32; chunk.len() * SEGMENT_SAMPLES];
                    let mut start_samples = Vec::with_capacity(chunk.len());
                    for (k, &s) in chunk.iter().enumerate() {
                        start_samples.push(s as u64);
                        let end = (s + SEGMENT_SAMPLES).min(audio.len());
                        for (dst, &v) in wave[k * SEGMENT_SAMPLES..]
                            .iter_mut()
                            .zip(&audio[s.min(end)..end])
                        {
                            *dst = pcm::to_f32(v);
                        }
                    }
                    let x = tch::Tensor::from_slice(&wave)
                        .view([chunk.len() as i64, SEGMENT_SAMPLES as i64]);
                    let spec: Vec<f32> = Vec::<f32>::try_from(fe.forward(&x).flatten(0, -1))
                        .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
                    let mut tokens: Vec<u16> = Vec::with_capacity(chunk.len() * token_len as usize);
                    for (k, &start_sample) in chunk.iter().enumerate() {
                        let start = start_sample as f64 / SAMPLE_RATE;
                        let seg = events.segment(start, SEGMENT_SEC);
                        let enc =
                            task.encode_events(seg.events, &seg.ties, start)
                                .map_err(|e| Error::Table {
                                    path: notes_art.dir.clone(),
                                    reason: format!("tokens of `{}` at {start:.3} s: {e}", u.id),
                                })?;
                        let n_tokens = enc.tokens.iter().filter(|&&t| t != PAD).count() as u32;
                        let n_notes = seg.events.iter().filter(|e| e.velocity > 0).count() as u32;
                        rows.push(&SegmentRow {
                            dataset: &ds,
                            split: &split,
                            track_id: &u.id,
                            mix: &mix.name,
                            shard: &format!("parts/{part_dir}/{shard_rel}"),
                            row: (chunk_i * BATCH_ROWS + k) as u32,
                            start_sample: start_samples[k],
                            n_tokens,
                            n_notes,
                            n_ties: seg.ties.len() as u32,
                            truncated: enc.truncated as u32,
                            unassigned_events: enc.dropped_events as u32,
                        });
                        unassigned += enc.dropped_events as u64;
                        tokens.extend_from_slice(&enc.tokens);
                    }
                    let batch =
                        shard_batch(&schema, start_samples, spec, tokens, spec_len, token_len)?;
                    writer.write(&batch).map_err(arrow_err)?;
                    n_segments += chunk.len() as u64;
                }
                writer.finish().map_err(arrow_err)?;
                writer.into_inner().map_err(arrow_err)?.finish()?;
            }
            let mut t = w.table(segments::NAME, segments::schema())?;
            t.write(&rows.finish())?;
            t.finish()?;
            if unassigned > 0 {
                tracing::warn!(
                    "{}: {unassigned} note event(s) have programs without a channel of `{}` (see `unassigned_events` in `segments`)",
                    u.id,
                    cfg.task
                );
            }
            Ok(json!({"segments": n_segments, "unassigned_events": unassigned}))
        })?;
        let n = consolidate_table(job, &parts, segments::NAME, segments::schema())?;
        job.out.set_summary("segments", n.into());
        job.out.set_summary("tracks", parts.len().into());
        Ok(())
    }
}

fn arrow_err(e: arrow::error::ArrowError) -> Error {
    Error::Io(std::io::Error::other(e.to_string()))
}

fn shard_batch(
    schema: &SchemaRef,
    starts: Vec<u64>,
    spec: Vec<f32>,
    tokens: Vec<u16>,
    spec_len: i32,
    token_len: i32,
) -> Result<RecordBatch> {
    let item = |t: DataType| Arc::new(Field::new("item", t, false));
    let spec = FixedSizeListArray::try_new(
        item(DataType::Float32),
        spec_len,
        Arc::new(Float32Array::from(spec)),
        None,
    )
    .map_err(arrow_err)?;
    let tokens = FixedSizeListArray::try_new(
        item(DataType::UInt16),
        token_len,
        Arc::new(UInt16Array::from(tokens)),
        None,
    )
    .map_err(arrow_err)?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(starts)),
        Arc::new(spec),
        Arc::new(tokens),
    ];
    RecordBatch::try_new(schema.clone(), columns).map_err(arrow_err)
}

/// One mix of a track in a `stem` artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct MixRef {
    pub name: String,
    pub file: String,
    pub batch: u32,
    pub n_samples: u64,
}

/// One stem of a track in a `stem` artifact: where its samples are and what it plays.
#[derive(Debug, Clone, PartialEq)]
pub struct StemRef {
    pub stem_id: String,
    /// 0-127 GM program, 128 drums, 129 unannotated.
    pub program: u8,
    pub is_drum: bool,
    pub file: String,
    pub batch: u32,
    pub n_samples: u64,
}

/// A track's stems and mixes in a `stem` artifact, in `stems` row order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackAudioRefs {
    pub stems: Vec<StemRef>,
    pub mixes: Vec<MixRef>,
}

/// The mixes of every track of a `stem` artifact, by track id.
pub fn read_mixes(stem: &amt_cache::Artifact) -> Result<BTreeMap<String, Vec<MixRef>>> {
    Ok(read_track_audio(stem)?
        .into_iter()
        .filter(|(_, a)| !a.mixes.is_empty())
        .map(|(t, a)| (t, a.mixes))
        .collect())
}

/// The stems and mixes of every track of a `stem` artifact, by track id.
pub fn read_track_audio(stem: &amt_cache::Artifact) -> Result<BTreeMap<String, TrackAudioRefs>> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{UInt8Type, UInt32Type, UInt64Type};
    let path = stem
        .table_file(amt_schemas::stems::NAME)
        .ok_or_else(|| Error::Table {
            path: stem.dir.clone(),
            reason: "the `stem` artifact has no `stems` table".into(),
        })?;
    let bad = |reason: String| Error::Table {
        path: path.clone(),
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let mut out: BTreeMap<String, TrackAudioRefs> = BTreeMap::new();
    for batch in reader {
        let b = batch.map_err(|e| bad(e.to_string()))?;
        if b.schema().fields() != amt_schemas::stems::schema().fields() {
            return Err(bad(
                "its columns differ from this build's `stems` schema".into()
            ));
        }
        let col = |name: &str| b.column_by_name(name).expect("schema checked");
        let (track, stem_id, kind) = (
            col("track_id").as_string::<i32>(),
            col("stem_id").as_string::<i32>(),
            col("kind").as_string::<i32>(),
        );
        let (program, is_drum) = (
            col("program").as_primitive::<UInt8Type>(),
            col("is_drum").as_boolean(),
        );
        let (file_c, batch_c, n) = (
            col("file").as_string::<i32>(),
            col("batch").as_primitive::<UInt32Type>(),
            col("n_samples").as_primitive::<UInt64Type>(),
        );
        for i in 0..b.num_rows() {
            if track.is_null(i) {
                continue;
            }
            let refs = out.entry(track.value(i).to_string()).or_default();
            match kind.value(i) {
                "mix" => refs.mixes.push(MixRef {
                    name: stem_id.value(i).to_string(),
                    file: file_c.value(i).to_string(),
                    batch: batch_c.value(i),
                    n_samples: n.value(i),
                }),
                _ => refs.stems.push(StemRef {
                    stem_id: stem_id.value(i).to_string(),
                    program: if program.is_null(i) {
                        amt_symbolic::note::UNANNOTATED_PROGRAM
                    } else {
                        program.value(i)
                    },
                    is_drum: is_drum.is_valid(i) && is_drum.value(i),
                    file: file_c.value(i).to_string(),
                    batch: batch_c.value(i),
                    n_samples: n.value(i),
                }),
            }
        }
    }
    Ok(out)
}

/// A digest of a track's notes (as published), so shards rebuild when they change.
fn notes_digest(groups: &crate::notes::read::StemGroups) -> String {
    let mut h = blake3::Hasher::new();
    for (stem, notes) in groups {
        h.update(stem.as_deref().unwrap_or("-").as_bytes());
        for n in notes {
            h.update(&n.onset.to_le_bytes());
            h.update(&n.offset.to_le_bytes());
            h.update(&[n.pitch, n.program, n.velocity, u8::from(n.is_drum)]);
        }
    }
    h.finalize().to_hex().to_string()
}

/// The segments of a `shards` artifact, with absolute shard paths, for the training stream.
pub fn read_segments(
    artifact: &amt_cache::Artifact,
) -> Result<Vec<amt_model::stream::SegmentInfo>> {
    use arrow::array::AsArray;
    use arrow::datatypes::{UInt32Type, UInt64Type};
    let path = artifact
        .table_file(segments::NAME)
        .ok_or_else(|| Error::Table {
            path: artifact.dir.clone(),
            reason: "the `shards` artifact has no `segments` table".into(),
        })?;
    let bad = |reason: String| Error::Table {
        path: path.clone(),
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.map_err(|e| bad(e.to_string()))?;
        if b.schema().fields() != segments::schema().fields() {
            return Err(bad(
                "its columns differ from this build's `segments` schema".into(),
            ));
        }
        let col = |name: &str| b.column_by_name(name).expect("schema checked");
        let (split, track, mix, shard) = (
            col("split").as_string::<i32>(),
            col("track_id").as_string::<i32>(),
            col("mix").as_string::<i32>(),
            col("shard").as_string::<i32>(),
        );
        let (row, start) = (
            col("row").as_primitive::<UInt32Type>(),
            col("start_sample").as_primitive::<UInt64Type>(),
        );
        for i in 0..b.num_rows() {
            out.push(amt_model::stream::SegmentInfo {
                track_id: track.value(i).to_string(),
                mix: mix.value(i).to_string(),
                split: split.value(i).to_string(),
                shard: artifact.dir.join(shard.value(i)),
                row: row.value(i),
                start_sample: start.value(i),
            });
        }
    }
    Ok(out)
}
