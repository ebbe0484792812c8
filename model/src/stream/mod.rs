//! The training stream: shards in, ready batches out.
//!
//! - **Sampling** follows YourMT3 (`datasets_helper.get_weighted_random_sampler`, spec
//!   section 2): every entry (a track's mix: YourMT3's file-list entry) of dataset `d` gets weight
//!   `w_d * (1 - n_d / N)`, `n_d` the dataset's entries and `N` all entries, and entries are drawn
//!   with replacement. So dataset `d` is drawn with probability proportional to
//!   `w_d * n_d * (1 - n_d / N)` (the weight is not divided by `n_d`; with one dataset the
//!   probability is 1). Within an entry, one of its 2.048 s segments is drawn uniformly.
//! - **Deterministic and resumable**: draw `i` comes from a counter-based generator seeded by
//!   (seed, i), so batch `k` is the same whatever ran before it, and a stream
//!   reopened at a recorded position continues exactly. Sampling with replacement from all
//!   shards at once is already a uniform shuffle across shards, so no shuffle buffer (which
//!   would add state to the resume point) is kept.
//! - **Ranks split each global batch**: with `world` ranks of `B` rows each, global batch `k`
//!   is draws `k * world * B .. (k + 1) * world * B` of one global draw sequence, and rank `r`
//!   reads only its `B` of them ([`draw_range`]). So the rows trained on, and the stream
//!   position, do not depend on how many ranks share the work: 2 ranks x `B` see exactly the
//!   rows 1 rank x `2B` sees, and a run resumes with any world size.
//! - **Prefetch**: `workers` threads build batches ahead into bounded channels (memory holds at
//!   most `prefetch` batches), reading segments from memory-mapped shards ([`mmap`]); with CUDA
//!   the tensors are pinned for asynchronous copies.
//! - **Sources**: a [`BatchSource`] builds batch `k`; [`ShardSource`] reads stored spectrograms
//!   and tokens, and the trainer's augmented source (`amt_pipeline::train::augment`) mixes stem
//!   audio and computes both on the fly. Either way the workers, prefetch and resume are these.

pub mod mmap;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use arrow::array::{AsArray, FixedSizeListArray};
use arrow::datatypes::{Float32Type, UInt16Type};
use tch::{Device, Tensor};

use mmap::MappedShard;

/// One segment of a shards artifact (a row of `segments`), located in its shard file.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentInfo {
    pub track_id: String,
    pub mix: String,
    pub split: String,
    /// Absolute path of the shard file.
    pub shard: PathBuf,
    pub row: u32,
    pub start_sample: u64,
}

/// The segments of one dataset (its shards artifact) and its preset weight.
#[derive(Debug, Clone)]
pub struct DatasetSegments {
    pub dataset: String,
    pub weight: f64,
    pub segments: Vec<SegmentInfo>,
}

/// Shapes and behaviour of a stream.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub seed: u64,
    /// Rows per batch of this rank (the global batch is `batch_size * world`).
    pub batch_size: usize,
    pub rank: usize,
    pub world: usize,
    /// Batches built ahead (at least one per worker).
    pub prefetch: usize,
    pub workers: usize,
    /// Spectrogram frames x bins, token channels x length, as the shards hold them.
    pub frames: i64,
    pub bins: i64,
    pub channels: i64,
    pub length: i64,
    /// Shard files kept mapped at once.
    pub open_files: usize,
}

impl StreamConfig {
    pub fn shape(&self) -> RowShape {
        RowShape {
            frames: self.frames,
            bins: self.bins,
            channels: self.channels,
            length: self.length,
        }
    }
}

/// A batch as the trainer takes it.
#[derive(Debug)]
pub struct Batch {
    /// (B, frames, bins) float32; empty when `audio` is given instead.
    pub spectrogram: Tensor,
    /// (B, samples) float32 waveforms whose front-end the consumer computes (on its device),
    /// instead of `spectrogram`.
    pub audio: Option<Tensor>,
    /// (B, channels, length) int64 token ids.
    pub tokens: Tensor,
    /// (dataset, track, start sample) of each row.
    pub rows: Vec<(String, String, u64)>,
}

/// YourMT3's dataset probabilities for the given weights and entry counts (see the module
/// doc). With one dataset it is 1.
pub fn dataset_probabilities(weights: &[f64], entries: &[usize]) -> Vec<f64> {
    if weights.len() == 1 {
        return vec![1.0];
    }
    let total: usize = entries.iter().sum();
    let raw: Vec<f64> = weights
        .iter()
        .zip(entries)
        .map(|(&w, &n)| {
            if total == 0 {
                0.0
            } else {
                w * n as f64 * (1.0 - n as f64 / total as f64)
            }
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter()
        .map(|&r| if sum > 0.0 { r / sum } else { 0.0 })
        .collect()
}

/// splitmix64: a counter-based generator (same input, same output).
fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(z: u64) -> f64 {
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// The draws rank `rank` of `world` reads for global batch `k`, at `batch` rows per rank.
pub fn draw_range(k: u64, batch: usize, rank: usize, world: usize) -> std::ops::Range<u64> {
    let (b, r, w) = (batch as u64, rank as u64, world.max(1) as u64);
    let start = k * w * b + r * b;
    start..start + b
}

/// Which segment every draw picks: the sampling plan, shared by the workers.
pub struct Sampler {
    /// Cumulative probabilities of the datasets that can be drawn from.
    cumulative: Vec<f64>,
    /// Per dataset (in `cumulative` order): its entries, each a list of segment
    /// indices into `segments`.
    entries: Vec<Vec<Vec<usize>>>,
    pub segments: Vec<SegmentInfo>,
    dataset_of: Vec<usize>,
    seed: u64,
    probabilities: Vec<(String, f64)>,
}

impl Sampler {
    pub fn new(
        datasets: &[DatasetSegments],
        split: Option<&str>,
        seed: u64,
    ) -> Result<Sampler, String> {
        let mut segments = Vec::new();
        let mut dataset_of = Vec::new();
        let mut all_entries: Vec<Vec<Vec<usize>>> = Vec::new();
        for (d, ds) in datasets.iter().enumerate() {
            let mut by_entry: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
            for s in ds
                .segments
                .iter()
                .filter(|s| split.is_none_or(|want| s.split == want))
            {
                by_entry
                    .entry((&s.track_id, &s.mix))
                    .or_default()
                    .push(segments.len());
                segments.push(s.clone());
                dataset_of.push(d);
            }
            all_entries.push(by_entry.into_values().collect());
        }
        let counts: Vec<usize> = all_entries.iter().map(Vec::len).collect();
        let weights: Vec<f64> = datasets.iter().map(|d| d.weight).collect();
        let probs = dataset_probabilities(&weights, &counts);
        let probabilities = datasets
            .iter()
            .zip(&probs)
            .map(|(d, &p)| (d.dataset.clone(), p))
            .collect();
        // Datasets without entries (or weight) are left out, and the rest renormalised.
        let mut cumulative = Vec::new();
        let mut entries = Vec::new();
        let mut acc = 0.0;
        for (e, p) in all_entries.into_iter().zip(&probs) {
            if e.is_empty() || *p <= 0.0 {
                continue;
            }
            acc += p;
            cumulative.push(acc);
            entries.push(e);
        }
        if entries.is_empty() {
            return Err(format!(
                "no segments to draw{}",
                split
                    .map(|s| format!(" in split `{s}`"))
                    .unwrap_or_default()
            ));
        }
        for c in &mut cumulative {
            *c /= acc;
        }
        Ok(Sampler {
            cumulative,
            entries,
            segments,
            dataset_of,
            seed,
            probabilities,
        })
    }

    /// The datasets' probabilities by YourMT3's formula.
    pub fn probabilities(&self) -> &[(String, f64)] {
        &self.probabilities
    }

    /// The segment of draw `i` (an index into `segments`).
    pub fn draw(&self, i: u64) -> usize {
        // (The constant `mix64(1)` keeps the draws of streams recorded before ranks shared one
        // draw sequence.)
        self.draw_salted(i, 1)
    }

    /// Draw `i` of the independent draw sequence `salt` (1 is [`Sampler::draw`]'s): the
    /// augmented stream draws the external sources of draw `i` from other salts.
    pub fn draw_salted(&self, i: u64, salt: u64) -> usize {
        let base = mix64(self.seed ^ mix64(salt) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03));
        let (a, b, c) = (mix64(base), mix64(base ^ 1), mix64(base ^ 2));
        let u = unit(a);
        let d = self
            .cumulative
            .partition_point(|&cum| cum <= u)
            .min(self.cumulative.len() - 1);
        let entries = &self.entries[d];
        let entry = &entries[(b % entries.len() as u64) as usize];
        entry[(c % entry.len() as u64) as usize]
    }

    /// The dataset of segment `segment`.
    pub fn dataset_name(&self, segment: usize) -> &str {
        &self.probabilities[self.dataset_of[segment]].0
    }
}

/// Shard files mapped on demand, at most `capacity` at once (least recently used dropped);
/// reads segments into tensors. Shared by the stream's workers and by validation.
pub struct ShardReader {
    capacity: usize,
    open: Mutex<Vec<(PathBuf, Arc<MappedShard>)>>,
}

/// What one row of a batch holds: spectrogram frames x bins, token channels x length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowShape {
    pub frames: i64,
    pub bins: i64,
    pub channels: i64,
    pub length: i64,
}

impl ShardReader {
    pub fn new(capacity: usize) -> ShardReader {
        ShardReader {
            capacity: capacity.max(1),
            open: Mutex::new(Vec::new()),
        }
    }

    /// The mapping of `path` (an Arrow IPC file: a shard, or a `stem` artifact's audio file),
    /// opened now or kept from an earlier call.
    pub fn get(&self, path: &PathBuf) -> Result<Arc<MappedShard>, String> {
        {
            let mut open = self.open.lock().expect("not poisoned");
            if let Some(i) = open.iter().position(|(p, _)| p == path) {
                let hit = open.remove(i);
                let shard = hit.1.clone();
                open.push(hit);
                return Ok(shard);
            }
        }
        let shard = Arc::new(MappedShard::open(path)?);
        let mut open = self.open.lock().expect("not poisoned");
        open.push((path.clone(), shard.clone()));
        if open.len() > self.capacity {
            open.remove(0);
        }
        Ok(shard)
    }

    /// The spectrograms (B, frames, bins) float32 and tokens (B, channels, length) int64 of
    /// `segments`, in order. Token rows longer than `length` are cut, keeping a final EOS.
    pub fn read(
        &self,
        segments: &[&SegmentInfo],
        shape: RowShape,
    ) -> Result<(Tensor, Tensor), String> {
        let b = segments.len();
        let spec_len = (shape.frames * shape.bins) as usize;
        let token_len = (shape.channels * shape.length) as usize;
        let mut spec = vec![0f32; b * spec_len];
        let mut tokens = vec![0i64; b * token_len];
        for (j, info) in segments.iter().enumerate() {
            let shard = self.get(&info.shard)?;
            let (batch, r) = shard.locate(info.row as usize).ok_or_else(|| {
                format!("shard `{}` has no row {}", info.shard.display(), info.row)
            })?;
            let col = |name: &str| -> Result<&FixedSizeListArray, String> {
                batch
                    .column_by_name(name)
                    .and_then(|c| c.as_fixed_size_list_opt())
                    .ok_or_else(|| {
                        format!("shard `{}` has no `{name}` column", info.shard.display())
                    })
            };
            let s = col("spectrogram")?;
            let t = col("tokens")?;
            let shard_len = t.value_length() as usize / shape.channels as usize;
            if s.value_length() as usize != spec_len
                || !(t.value_length() as usize).is_multiple_of(shape.channels as usize)
                || shard_len < shape.length as usize
            {
                return Err(format!(
                    "shard `{}` holds {} spectrogram values and {} tokens per segment; the stream expects {spec_len} and {} channel(s) of at least {} tokens",
                    info.shard.display(),
                    s.value_length(),
                    t.value_length(),
                    shape.channels,
                    shape.length
                ));
            }
            let sv = s.value(r);
            let tv = t.value(r);
            spec[j * spec_len..(j + 1) * spec_len]
                .copy_from_slice(sv.as_primitive::<Float32Type>().values());
            fit_token_rows(
                tv.as_primitive::<UInt16Type>().values(),
                shard_len,
                &mut tokens[j * token_len..(j + 1) * token_len],
                shape.length as usize,
            );
        }
        let spectrogram = Tensor::from_slice(&spec).view([b as i64, shape.frames, shape.bins]);
        let tokens = Tensor::from_slice(&tokens).view([b as i64, shape.channels, shape.length]);
        Ok((spectrogram, tokens))
    }
}

/// Copies token rows of `stored_len` tokens (one per channel, channel-major) into `dst`'s rows
/// of `len`: a row cut shorter keeps a final EOS (a sequence that ended past `len` still ends).
pub fn fit_token_rows(all: &[u16], stored_len: usize, dst: &mut [i64], len: usize) {
    for (c, row) in dst.chunks_mut(len).enumerate() {
        let src = &all[c * stored_len..c * stored_len + len];
        for (d, &v) in row.iter_mut().zip(src) {
            *d = i64::from(v);
        }
        if stored_len > len && all[c * stored_len + len] != 0 {
            row[len - 1] = 1;
        }
    }
}

/// What builds the batches of a stream: batch `k` of this rank, a pure function of `k` (so a
/// stream is deterministic and resumable whatever builds it). The shards ([`ShardSource`]) and
/// the augmented audio stream of the trainer implement it.
pub trait BatchSource: Send + Sync {
    fn build(&self, k: u64) -> Result<Batch, String>;
}

/// Batches read from spectrogram shards: the segments the sampler draws, as stored.
pub struct ShardSource {
    pub sampler: Arc<Sampler>,
    pub reader: ShardReader,
    pub cfg: StreamConfig,
}

impl BatchSource for ShardSource {
    /// This rank's part of global batch `k` ([`draw_range`]).
    fn build(&self, k: u64) -> Result<Batch, String> {
        let (sampler, cfg) = (&self.sampler, &self.cfg);
        let draws: Vec<usize> = draw_range(k, cfg.batch_size, cfg.rank, cfg.world)
            .map(|i| sampler.draw(i))
            .collect();
        let infos: Vec<&SegmentInfo> = draws.iter().map(|&s| &sampler.segments[s]).collect();
        let (spectrogram, tokens) = self.reader.read(&infos, cfg.shape())?;
        let rows = draws
            .iter()
            .map(|&s| {
                let info = &sampler.segments[s];
                (
                    sampler.dataset_name(s).to_string(),
                    info.track_id.clone(),
                    info.start_sample,
                )
            })
            .collect();
        Ok(Batch {
            spectrogram,
            audio: None,
            tokens,
            rows,
        })
    }
}

/// Pins a batch's tensors for asynchronous copies when there is a GPU.
fn pinned(mut b: Batch) -> Batch {
    if tch::Cuda::is_available() {
        b.spectrogram = b.spectrogram.pin_memory(Device::Cuda(0));
        b.audio = b.audio.map(|a| a.pin_memory(Device::Cuda(0)));
        b.tokens = b.tokens.pin_memory(Device::Cuda(0));
    }
    b
}

/// A running stream (see the module doc).
pub struct Stream {
    receivers: Vec<Receiver<Result<Batch, String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
    /// The position the workers started at: worker `w` builds batches `start + w + n * j`.
    start: u64,
    position: u64,
}

impl Stream {
    /// Starts the workers at batch `position` (0 for a new run, the recorded one to resume),
    /// reading shards.
    pub fn open(sampler: Sampler, cfg: StreamConfig, position: u64) -> Stream {
        let (workers, prefetch) = (cfg.workers, cfg.prefetch);
        let source = ShardSource {
            sampler: Arc::new(sampler),
            reader: ShardReader::new(cfg.open_files),
            cfg,
        };
        Stream::from_source(Arc::new(source), workers, prefetch, position)
    }

    /// Starts `workers` threads building `source`'s batches from `position` on, at most
    /// `prefetch` batches ahead.
    pub fn from_source(
        source: Arc<dyn BatchSource>,
        workers: usize,
        prefetch: usize,
        position: u64,
    ) -> Stream {
        let n = workers.max(1);
        let depth = (prefetch / n).max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let mut receivers = Vec::new();
        let mut handles = Vec::new();
        for w in 0..n {
            let (tx, rx): (SyncSender<Result<Batch, String>>, _) = sync_channel(depth);
            receivers.push(rx);
            let (source, stop) = (source.clone(), stop.clone());
            handles.push(std::thread::spawn(move || {
                tch::set_num_threads(1);
                let mut k = position + w as u64;
                while !stop.load(Ordering::Relaxed) {
                    let batch = source.build(k).map(pinned);
                    if tx.send(batch).is_err() {
                        break;
                    }
                    k += n as u64;
                }
            }));
        }
        Stream {
            receivers,
            stop,
            workers: handles,
            start: position,
            position,
        }
    }

    /// The next batch, in order.
    pub fn next_batch(&mut self) -> Result<Batch, String> {
        let w = ((self.position - self.start) % self.receivers.len() as u64) as usize;
        let b = self.receivers[w]
            .recv()
            .map_err(|_| "the stream's worker stopped".to_string())??;
        self.position += 1;
        Ok(b)
    }

    /// Batches delivered so far (plus the starting position): record it to resume.
    pub fn position(&self) -> u64 {
        self.position
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock workers waiting on a full channel.
        self.receivers.clear();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::draw_range;

    /// Ranks split a global batch without gaps or overlaps, whatever the world size.
    #[test]
    fn ranks_partition_each_global_batch() {
        for k in [0u64, 1, 7] {
            let single: Vec<u64> = draw_range(k, 8, 0, 1).collect();
            let two: Vec<u64> = (0..2).flat_map(|r| draw_range(k, 4, r, 2)).collect();
            let four: Vec<u64> = (0..4).flat_map(|r| draw_range(k, 2, r, 4)).collect();
            assert_eq!(two, single);
            assert_eq!(four, single);
        }
        assert_eq!(draw_range(1, 8, 0, 1), 8..16);
    }
}
