//! From spectrograms to notes with a model (batched greedy decoding, per-segment decoding,
//! merge), and the scoring of whole files against their references: validation during
//! training, the test split of `amt demo`, and `amt transcribe` all go through here.

use std::collections::BTreeMap;
use std::path::Path;

use amt_metrics::{MetricAggregator, TrackMetrics, TrackMetricsConfig, compute_track_metrics};
use amt_model::stream::{RowShape, ShardReader};
use amt_model::ymt3::Ymt3;
use amt_symbolic::{DecodedSegment, Note, decode_tokens, merge_segments, mix_notes};
use tch::{Device, Kind, Tensor};

use super::data::EvalSet;

/// How to run the model for inference.
#[derive(Debug, Clone, Copy)]
pub struct Decoding {
    pub device: Device,
    /// Segments decoded at once.
    pub batch: usize,
    pub bf16: bool,
    /// Tokens generated per segment at most (the model's event length).
    pub max_len: i64,
}

/// The greedy tokens of one segment: one row per decoder channel (one, or 13 with
/// `multi_t5`).
pub type SegmentRows = Vec<Vec<i64>>;

/// Greedy token rows of (N, frames, bins) spectrograms, `batch` at a time. `on_batch` is
/// told how many segments are done (for progress bars).
pub fn generate_rows(
    model: &Ymt3,
    spec: &Tensor,
    how: Decoding,
    mut on_batch: impl FnMut(usize),
) -> Vec<SegmentRows> {
    let n = spec.size()[0];
    let mut rows = Vec::with_capacity(n as usize);
    let mut start = 0;
    while start < n {
        let len = (how.batch as i64).min(n - start);
        let chunk = spec.narrow(0, start, len).to_device(how.device);
        let out = amt_model::amp::bf16_autocast(how.bf16, || model.generate(&chunk, how.max_len));
        let out = out.to_device(Device::Cpu).to_kind(Kind::Int64);
        // (len, C, L) whatever the decoder.
        let out = out.view([len, -1, how.max_len]);
        for i in 0..len {
            rows.push(Vec::<Vec<i64>>::try_from(out.get(i)).expect("int64 rows"));
        }
        start += len;
        on_batch(start as usize);
    }
    rows
}

/// Notes of one file from its segments' token rows and start times (seconds): each channel's
/// rows decoded from their starts and merged over the segments (ties close notes across
/// boundaries), then the channels mixed into one list (sorted, overlaps trimmed).
pub fn notes_from_rows(rows: &[SegmentRows], starts: &[f64]) -> Vec<Note> {
    let channels = rows.first().map_or(1, Vec::len);
    let per_channel = (0..channels).map(|c| {
        let decoded: Vec<DecodedSegment> = rows
            .iter()
            .zip(starts)
            .map(|(seg, &t)| {
                let tokens: Vec<u16> = seg[c]
                    .iter()
                    .map(|&v| v.clamp(0, u16::MAX as i64) as u16)
                    .collect();
                decode_tokens(&tokens, t)
            })
            .collect();
        merge_segments(&decoded).0
    });
    if channels == 1 {
        per_channel.into_iter().next().unwrap_or_default()
    } else {
        mix_notes(per_channel)
    }
}

/// Scores of one split: per dataset and macro over datasets (keys `(<dataset>)<metric>` and
/// `macro_<metric>`), plus the teacher-forced `loss`; and the transcriptions, by file.
pub struct Scores {
    pub values: BTreeMap<String, f64>,
    pub files: Vec<(String, String, Vec<Note>)>,
}

/// One file's result: where it sits in the sets, its metrics, its teacher-forced loss (sum
/// over segments, and the segment count) and its transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackScore {
    pub set: usize,
    pub track: usize,
    pub metrics: TrackMetrics,
    pub loss_sum: f64,
    pub loss_n: f64,
    pub notes: Vec<Note>,
}

/// Transcribes every file of `sets` from its shards and scores it against its reference
/// notes (onset tolerance 50 ms; the set's eval vocabulary). With `write_dir`, each file's
/// transcription is written there as `<dataset>/<track>.mid`.
pub fn score_sets(
    model: &Ymt3,
    sets: &[EvalSet],
    reader: &ShardReader,
    shape: RowShape,
    how: Decoding,
    write_dir: Option<&Path>,
) -> anyhow::Result<Scores> {
    let scores = score_tracks(model, sets, reader, shape, how, write_dir, (0, 1))?;
    let values = aggregate(sets, &scores);
    let files = scores
        .into_iter()
        .map(|s| {
            let set = &sets[s.set];
            (
                set.dataset.clone(),
                set.tracks[s.track].track_id.clone(),
                s.notes,
            )
        })
        .collect();
    Ok(Scores { values, files })
}

/// Scores this rank's share of the files of `sets`: with `part = (rank, world)`, the files
/// whose running index (over all sets, in order) is `rank` modulo `world`.
pub fn score_tracks(
    model: &Ymt3,
    sets: &[EvalSet],
    reader: &ShardReader,
    shape: RowShape,
    how: Decoding,
    write_dir: Option<&Path>,
    part: (usize, usize),
) -> anyhow::Result<Vec<TrackScore>> {
    let (rank, world) = (part.0, part.1.max(1));
    let mut out = Vec::new();
    let mut index = 0usize;
    for (si, set) in sets.iter().enumerate() {
        if set.tracks.is_empty() {
            continue;
        }
        let cfg = TrackMetricsConfig {
            eval_vocab: set
                .eval_vocab
                .as_deref()
                .map(amt_metrics::vocab::eval_vocab)
                .transpose()?,
            drum_vocab: set
                .drum_vocab
                .as_deref()
                .map(amt_metrics::vocab::drum_vocab)
                .transpose()?,
            pitch_class_metric: set.pitch_class_metric.clone(),
            ..Default::default()
        };
        for (ti, track) in set.tracks.iter().enumerate() {
            index += 1;
            if (index - 1) % world != rank {
                continue;
            }
            let segs: Vec<&_> = track.segments.iter().collect();
            let (spec, tokens) = reader.read(&segs, shape).map_err(anyhow::Error::msg)?;
            let labels = model.labels(&tokens);
            let (mut loss_sum, mut loss_n) = (0.0, 0.0);
            tch::no_grad(|| {
                let mut start = 0;
                let n = spec.size()[0];
                while start < n {
                    let len = (how.batch as i64).min(n - start);
                    let s = spec.narrow(0, start, len).to_device(how.device);
                    let l = labels.narrow(0, start, len).to_device(how.device);
                    let f =
                        amt_model::amp::bf16_autocast(how.bf16, || model.forward(&s, &l, false));
                    loss_sum += f.loss.double_value(&[]) * len as f64;
                    loss_n += len as f64;
                    start += len;
                }
            });
            let rows = generate_rows(model, &spec, how, |_| {});
            let starts: Vec<f64> = track
                .segments
                .iter()
                .map(|s| s.start_sample as f64 / amt_symbolic::tokenizer::SAMPLE_RATE)
                .collect();
            let notes = notes_from_rows(&rows, &starts);
            let metrics = compute_track_metrics(&notes, &track.reference, &cfg)?;
            if let Some(dir) = write_dir {
                let path = dir
                    .join(&set.dataset)
                    .join(format!("{}.mid", track.track_id));
                fs_err::create_dir_all(path.parent().expect("a parent"))?;
                fs_err::write(&path, amt_symbolic::notes_to_midi(&notes)?)?;
            }
            out.push(TrackScore {
                set: si,
                track: ti,
                metrics,
                loss_sum,
                loss_n,
                notes,
            });
        }
    }
    Ok(out)
}

/// The split's values from every file's score (in any order): per-dataset means, macro means
/// over datasets, and the loss (mean over segments).
pub fn aggregate(sets: &[EvalSet], scores: &[TrackScore]) -> BTreeMap<String, f64> {
    let mut sorted: Vec<&TrackScore> = scores.iter().collect();
    sorted.sort_by_key(|s| (s.set, s.track));
    let mut values = BTreeMap::new();
    let mut per_dataset: Vec<BTreeMap<String, f64>> = Vec::new();
    let (mut loss_sum, mut loss_n) = (0.0, 0.0);
    for (si, set) in sets.iter().enumerate() {
        if set.tracks.is_empty() {
            continue;
        }
        let mut agg = MetricAggregator::new();
        for s in sorted.iter().filter(|s| s.set == si) {
            agg.add_track(&s.metrics);
            loss_sum += s.loss_sum;
            loss_n += s.loss_n;
        }
        let means = agg.compute();
        for (k, v) in &means {
            values.insert(format!("({}){k}", set.dataset), *v);
        }
        per_dataset.push(means);
    }
    let mut keys: Vec<&String> = per_dataset.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let vs: Vec<f64> = per_dataset
            .iter()
            .filter_map(|m| m.get(k).copied())
            .filter(|v| !v.is_nan())
            .collect();
        let mean = if vs.is_empty() {
            f64::NAN
        } else {
            vs.iter().sum::<f64>() / vs.len() as f64
        };
        values.insert(format!("macro_{k}"), mean);
    }
    if loss_n > 0.0 {
        values.insert("loss".into(), loss_sum / loss_n);
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use amt_symbolic::{NoteEventList, Task, segment_start_times};

    fn note(program: u8, is_drum: bool, pitch: u8, onset: f64, offset: f64) -> Note {
        Note {
            is_drum,
            program,
            onset,
            offset,
            pitch,
            velocity: 1,
        }
    }

    /// A multi-instrument piece over three segments (notes tied across the boundaries) goes
    /// through the 13 channels of `mc13_full_plus_256` as the multi-T5 decoder emits them
    /// (one row per channel per segment) and comes back as the same notes, mixed; a note of a
    /// program without a channel (97) is the only one missing, and the tokenizer counts it.
    #[test]
    fn notes_round_trip_through_the_13_channels() {
        let piece = vec![
            note(0, false, 60, 0.10, 1.00),
            note(0, false, 64, 1.50, 2.60),  // tied into segment 2
            note(33, false, 40, 0.50, 4.50), // across two boundaries
            note(40, false, 72, 2.20, 2.40),
            note(100, false, 67, 3.00, 3.50),
            note(128, true, 36, 0.25, 0.26),
            note(128, true, 38, 2.10, 2.11),
            note(97, false, 50, 1.00, 1.20),
        ];
        let expected = mix_notes([piece
            .iter()
            .copied()
            .filter(|n| n.program != 97)
            .collect::<Vec<_>>()]);
        let task = Task::mc13_full_plus_256().without_remap();
        let list = NoteEventList::from_notes(&mix_notes([piece])).unwrap();
        let starts = segment_start_times(4.6);
        assert_eq!(starts.len(), 3);
        let mut dropped = 0;
        let rows: Vec<SegmentRows> = starts
            .iter()
            .map(|&s| {
                let enc = task.encode_segment(&list, s).unwrap();
                dropped += enc.dropped_events;
                assert_eq!(enc.num_channels, 13);
                enc.tokens
                    .chunks(enc.max_len)
                    .map(|c| c.iter().map(|&t| i64::from(t)).collect())
                    .collect()
            })
            .collect();
        assert!(dropped >= 1, "program 97 has no channel and is counted");
        let got = notes_from_rows(&rows, &starts);
        assert_eq!(got, expected);
    }
}
