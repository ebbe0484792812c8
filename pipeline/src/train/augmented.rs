//! The augmented training stream: segments cut at random sample offsets from the `stem`
//! artifact's audio (memory-mapped, one stem at a time), augmented ([`super::augment`]), then
//! the front-end and the tokenizer applied to what came out. It replaces the shards' stored
//! spectrograms and tokens in training when any augmentation is on; validation still reads
//! the shards.
//!
//! - **What a draw reads**: the sampler picks an entry (a track's mix) exactly as the shard
//!   stream does. A track whose notes are all assigned to its stems (Slakh, URMP, the synth
//!   demo, ENST's drums with an accompaniment stem) is read as its stems; any other (MAESTRO,
//!   GuitarSet's mic and mix recordings) as the entry's mix. So the stem artifact is the "shard
//!   with stems": per-stem audio is stored once, in the stem stage, not copied per segment.
//! - **Where**: up to 5 random offsets in [0, n - 32767) (YourMT3's `_update_cache`): the first
//!   whose window has a note or a tie, else the last.
//! - **Externals** of draw `i` are draws `(i, 1000 + j)` of the sampler's other sequences.
//! - **Targets**: the kept notes overlapping the window, tokenised as the shards stage
//!   tokenises a segment (ties included). With every augmentation off, an item's tokens equal
//!   the shards' tokens of the same window (tested).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use amt_model::frontend::{Codec, FrontEnd};
use amt_model::stream::{
    Batch, BatchSource, Sampler, ShardReader, StreamConfig, draw_range, fit_token_rows,
};
use amt_stages::notes::read::StemGroups;
use amt_stages::shards::TrackAudioRefs;
use amt_symbolic::note::UNANNOTATED_PROGRAM;
use amt_symbolic::tokenizer::{Encoded, SAMPLE_RATE, SEGMENT_SAMPLES, SEGMENT_SEC, Task};
use amt_symbolic::{Note, NoteEventList};
use arrow::array::AsArray;
use arrow::datatypes::Int16Type;
use tch::Tensor;

use super::augment::{AugmentPolicy, Augmented, Rng, Source, StemAudio, augment, instrument};
use super::data::RunData;
use super::resolve::TrainPlan;

/// Offsets tried per draw for a window with notes (YourMT3: 5).
const ATTEMPTS: usize = 5;
/// The sampler sequence the first external of a draw comes from.
const EXTERNAL_SALT: u64 = 1000;

/// A track's audio and notes, as the augmented stream reads them.
#[derive(Debug, Clone)]
pub struct TrackAudio {
    pub refs: TrackAudioRefs,
    /// Read as stems (every note group names one of the stems).
    pub use_stems: bool,
    /// It has an unannotated (129) stem.
    pub unannotated: bool,
    /// All its notes, by onset.
    pub notes: Vec<Note>,
    /// The longest note (seconds), to find the notes sounding into a window.
    pub longest: f64,
}

/// One dataset's `stem` artifact and notes.
#[derive(Debug, Clone)]
pub struct DatasetAudio {
    /// The `stem` artifact's folder (its `file` paths are relative to it).
    pub dir: PathBuf,
    pub tracks: BTreeMap<String, TrackAudio>,
}

impl DatasetAudio {
    pub fn new(
        dir: PathBuf,
        refs: BTreeMap<String, TrackAudioRefs>,
        notes: &BTreeMap<String, StemGroups>,
    ) -> DatasetAudio {
        let mut tracks = BTreeMap::new();
        for (track, refs) in refs {
            let groups: &[(Option<String>, Vec<Note>)] =
                notes.get(&track).map_or(&[], Vec::as_slice);
            let use_stems = !refs.stems.is_empty()
                && groups.iter().all(|(stem, _)| {
                    stem.as_ref()
                        .is_some_and(|s| refs.stems.iter().any(|r| &r.stem_id == s))
                });
            let unannotated = refs.stems.iter().any(|s| s.program == UNANNOTATED_PROGRAM);
            let mut all: Vec<Note> = groups.iter().flat_map(|(_, n)| n.iter().copied()).collect();
            amt_symbolic::sort_notes(&mut all);
            let longest = all.iter().map(|n| n.offset - n.onset).fold(0.0, f64::max);
            tracks.insert(
                track,
                TrackAudio {
                    refs,
                    use_stems,
                    unannotated,
                    notes: all,
                    longest,
                },
            );
        }
        DatasetAudio { dir, tracks }
    }
}

/// The notes of `notes` (sorted by onset) in the segment `[t0, t0 + SEGMENT_SEC)`: those with an
/// event in it and those tied into it (sounding at `t0`).
pub fn notes_in_window(notes: &[Note], longest: f64, t0: f64) -> Vec<Note> {
    let t1 = t0 + SEGMENT_SEC;
    let lo = notes.partition_point(|n| n.onset < t0 - longest - 1e-6);
    notes[lo..]
        .iter()
        .take_while(|n| n.onset < t1)
        .filter(|n| {
            if n.is_drum {
                n.onset >= t0
            } else {
                n.offset >= t0
            }
        })
        .copied()
        .collect()
}

/// The tokens of `notes` for the segment starting at `t0` (as the shards stage encodes one).
pub fn encode(task: &Task, notes: &[Note], t0: f64) -> Result<Encoded, String> {
    let list = NoteEventList::from_notes(notes).map_err(|e| e.to_string())?;
    let seg = list.segment(t0, SEGMENT_SEC);
    task.encode_events(seg.events, &seg.ties, t0)
        .map_err(|e| e.to_string())
}

/// One augmented item and the draw it came from.
#[derive(Debug, Clone)]
pub struct Item {
    pub augmented: Augmented,
    pub dataset: String,
    pub track: String,
    pub start_sample: u64,
}

/// The augmented stream's batches (see the module doc).
pub struct AugmentedSource {
    pub sampler: Arc<Sampler>,
    /// By data-preset member (the sampler's dataset names).
    pub audio: BTreeMap<String, Arc<DatasetAudio>>,
    pub policy: AugmentPolicy,
    pub task: Task,
    pub codec: Codec,
    pub hop: i64,
    pub n_mels: i64,
    pub cfg: StreamConfig,
    pub files: ShardReader,
    /// Whether batches carry spectrograms (computed by the workers) or the audio, for the
    /// trainer to run the front-end on its device (the GPU's time is cheaper than the CPU's).
    pub spectrogram_in_stream: bool,
}

impl AugmentedSource {
    /// The augmented stream of a plan: its training data (`data.audio`) read through
    /// `sampler`, in the shape of `cfg`; with `spectrogram_in_stream` false, batches carry
    /// audio for the consumer's front-end.
    pub fn for_plan(
        plan: &TrainPlan,
        data: &RunData,
        sampler: Sampler,
        cfg: StreamConfig,
        spectrogram_in_stream: bool,
    ) -> anyhow::Result<AugmentedSource> {
        let task = Task::from_name(&plan.task)?;
        let codec = Codec::parse(&plan.codec)
            .ok_or_else(|| anyhow::anyhow!("unknown codec `{}`", plan.codec))?;
        if task.num_channels as i64 != cfg.channels || (task.max_len as i64) < cfg.length {
            anyhow::bail!(
                "the model reads {} channel(s) of {} tokens; task `{}` makes {} of {}",
                cfg.channels,
                cfg.length,
                plan.task,
                task.num_channels,
                task.max_len
            );
        }
        Ok(AugmentedSource {
            sampler: Arc::new(sampler),
            audio: data.audio.clone(),
            policy: plan.augment.clone(),
            task,
            codec,
            hop: plan.hop_length,
            n_mels: plan.n_mels,
            files: ShardReader::new(cfg.open_files),
            cfg,
            spectrogram_in_stream,
        })
    }

    /// The segment of sampler segment `segment` at a random window, read.
    fn source(&self, segment: usize, rng: &mut Rng) -> Result<(Source, String, u64), String> {
        let member = self.sampler.dataset_name(segment);
        let info = &self.sampler.segments[segment];
        let data = self
            .audio
            .get(member)
            .ok_or_else(|| format!("no audio loaded for `{member}`"))?;
        let track = data.tracks.get(&info.track_id).ok_or_else(|| {
            format!(
                "track `{}` of `{member}` has no audio in its `stem` artifact; rebuild it with `amt run --until stem`",
                info.track_id
            )
        })?;
        // Which audio: the stems, or the entry's mix (`mix#2` is a second entry of `mix`).
        let mix_name = info.mix.split('#').next().unwrap_or_default();
        let parts: Vec<(Option<u8>, &str, u32, u64)> = if track.use_stems {
            track
                .refs
                .stems
                .iter()
                .map(|s| {
                    (
                        Some(instrument(s.program, s.is_drum)),
                        s.file.as_str(),
                        s.batch,
                        s.n_samples,
                    )
                })
                .collect()
        } else {
            let m = track
                .refs
                .mixes
                .iter()
                .find(|m| m.name == mix_name)
                .ok_or_else(|| {
                    format!(
                        "track `{}` of `{member}` has no mix `{mix_name}` in its `stem` artifact",
                        info.track_id
                    )
                })?;
            vec![(None, m.file.as_str(), m.batch, m.n_samples)]
        };
        let n = parts.iter().map(|p| p.3).max().unwrap_or(0) as usize;
        let span = n.saturating_sub(SEGMENT_SAMPLES);
        let (mut start, mut notes) = (0usize, Vec::new());
        for attempt in 0..ATTEMPTS {
            start = if span == 0 { 0 } else { rng.below(span) };
            notes = notes_in_window(&track.notes, track.longest, start as f64 / SAMPLE_RATE);
            if !notes.is_empty() || attempt + 1 == ATTEMPTS {
                break;
            }
        }
        let mut stems = Vec::with_capacity(parts.len());
        for (instrument, file, batch, _) in parts {
            let path = data.dir.join(file);
            let mapped = self.files.get(&path)?;
            let samples = mapped
                .batches
                .get(batch as usize)
                .and_then(|b| b.column(0).as_primitive_opt::<Int16Type>())
                .ok_or_else(|| {
                    format!(
                        "`{}` has no int16 batch {batch}; rebuild the `stem` artifact",
                        path.display()
                    )
                })?
                .values();
            let mut out = vec![0f32; SEGMENT_SAMPLES];
            let end = (start + SEGMENT_SAMPLES).min(samples.len());
            for (o, &v) in out.iter_mut().zip(&samples[start.min(end)..end]) {
                *o = amt_stages::audio::pcm::to_f32(v);
            }
            stems.push(StemAudio {
                instrument,
                samples: out,
            });
        }
        let source = Source {
            stems,
            has_stems: track.use_stems,
            unannotated: track.unannotated,
            notes,
            window_start: start as f64 / SAMPLE_RATE,
            label: format!("{member}/{}:{start}", info.track_id),
        };
        Ok((source, info.track_id.clone(), start as u64))
    }

    /// Draw `i`, augmented.
    pub fn item(&self, i: u64) -> Result<Item, String> {
        let seed = self.cfg.seed;
        let mut rng = Rng::new(seed, 1, i);
        let segment = self.sampler.draw(i);
        let (primary, track, start_sample) = self.source(segment, &mut rng)?;
        let t0 = primary.window_start;
        let mut j = 0u64;
        let next_external = || {
            let s = self.sampler.draw_salted(i, EXTERNAL_SALT + j);
            let mut r = Rng::new(seed, EXTERNAL_SALT + j, i);
            j += 1;
            self.source(s, &mut r).map(|(src, _, _)| src)
        };
        let fits = |notes: &[Note]| encode(&self.task, notes, t0).is_ok_and(|e| e.truncated == 0);
        let augmented = augment(primary, &self.policy, &mut rng, next_external, fits)?;
        Ok(Item {
            augmented,
            dataset: self.sampler.dataset_name(segment).to_string(),
            track,
            start_sample,
        })
    }

    /// The front-end of this stream on `device`.
    pub fn frontend(&self, device: tch::Device) -> FrontEnd {
        FrontEnd::with_mels(self.codec, self.hop, self.n_mels, device)
    }

    /// The items' audio as a (B, samples) waveform batch.
    pub fn waveforms(items: &[Item]) -> Tensor {
        let mut wave = vec![0f32; items.len() * SEGMENT_SAMPLES];
        for (k, it) in items.iter().enumerate() {
            let a = &it.augmented.audio;
            let n = a.len().min(SEGMENT_SAMPLES);
            wave[k * SEGMENT_SAMPLES..k * SEGMENT_SAMPLES + n].copy_from_slice(&a[..n]);
        }
        Tensor::from_slice(&wave).view([items.len() as i64, SEGMENT_SAMPLES as i64])
    }

    /// The spectrograms (B, frames, bins) of items' audio, on the CPU.
    pub fn spectrograms(&self, items: &[Item]) -> Tensor {
        self.frontend(tch::Device::Cpu)
            .forward(&Self::waveforms(items))
    }
}

impl BatchSource for AugmentedSource {
    fn build(&self, k: u64) -> Result<Batch, String> {
        let cfg = &self.cfg;
        let items: Vec<Item> = draw_range(k, cfg.batch_size, cfg.rank, cfg.world)
            .map(|i| self.item(i))
            .collect::<Result<_, _>>()?;
        let (spectrogram, audio) = if self.spectrogram_in_stream {
            let spectrogram = self.spectrograms(&items);
            let want = [items.len() as i64, cfg.frames, cfg.bins];
            if spectrogram.size() != want {
                return Err(format!(
                    "the front-end gives spectrograms {:?}; the model takes {want:?}",
                    spectrogram.size()
                ));
            }
            (spectrogram, None)
        } else {
            (
                Tensor::zeros([0], tch::kind::FLOAT_CPU),
                Some(Self::waveforms(&items)),
            )
        };
        let row = (cfg.channels * cfg.length) as usize;
        let mut tokens = vec![0i64; items.len() * row];
        for (b, it) in items.iter().enumerate() {
            let a = &it.augmented;
            let enc = encode(&self.task, &a.notes, a.window_start)?;
            fit_token_rows(
                &enc.tokens,
                self.task.max_len,
                &mut tokens[b * row..(b + 1) * row],
                cfg.length as usize,
            );
        }
        let tokens =
            Tensor::from_slice(&tokens).view([items.len() as i64, cfg.channels, cfg.length]);
        let rows = items
            .into_iter()
            .map(|it| (it.dataset, it.track, it.start_sample))
            .collect();
        Ok(Batch {
            spectrogram,
            audio,
            tokens,
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::augment::Rng;

    /// The notes of a window, tokenised, equal the window of the whole track tokenised (as
    /// the shards stage does it): ties, long notes and drums included.
    #[test]
    fn window_notes_tokenise_as_the_whole_track_does() {
        let mut rng = Rng::new(5, 1, 0);
        let mut notes = Vec::new();
        for _ in 0..600 {
            let onset = (rng.uniform() * 6000.0).round() / 100.0;
            let is_drum = rng.uniform() < 0.2;
            let len = if rng.uniform() < 0.1 {
                8.0
            } else {
                0.05 + rng.uniform()
            };
            notes.push(Note {
                is_drum,
                program: if is_drum {
                    128
                } else {
                    [0u8, 33, 40][rng.below(3)]
                },
                onset,
                offset: if is_drum {
                    onset + 0.01
                } else {
                    ((onset + len) * 100.0).round() / 100.0
                },
                pitch: 30 + rng.below(60) as u8,
                velocity: 1,
            });
        }
        let mut notes = amt_symbolic::trim_overlapping_notes(notes);
        amt_symbolic::validate_notes(&mut notes);
        amt_symbolic::sort_notes(&mut notes);
        let longest = notes.iter().map(|n| n.offset - n.onset).fold(0.0, f64::max);
        let whole = NoteEventList::from_notes(&notes).unwrap();
        for task in [Task::mt3_full_plus(), Task::mc13_full_plus_256()] {
            for k in 0..40 {
                let t0 = (k * 24_000 + rng.below(16_000)) as f64 / SAMPLE_RATE;
                let window = notes_in_window(&notes, longest, t0);
                let got = encode(&task, &window, t0).unwrap();
                let want = task.encode_segment(&whole, t0).unwrap();
                assert_eq!(got.tokens, want.tokens, "window at {t0} s");
            }
        }
    }
}
