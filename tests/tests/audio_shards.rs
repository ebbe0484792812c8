//! Audio and shards on the real-format fixtures: decoding every fixture file (rates, channels,
//! lengths), damaged audio named and quarantined, shards whose tokens decode back to their
//! segment's notes and whose spectrograms equal the front-end applied to their audio, the
//! training stream (deterministic, resumable, YourMT3's proportions, disjoint ranks), and
//! `amt features`.

mod common;

use std::path::{Path, PathBuf};

use amt_cache::{Slot, Store};
use amt_model::frontend::{Codec, FrontEnd};
use amt_model::stream::{DatasetSegments, Sampler, SegmentInfo, Stream, StreamConfig};
use amt_stages::audio::{self, Channels, SAMPLE_RATE};
use common::{Home, fixtures};

/// Frames of a RIFF/WAVE file from its header (fmt block align and data size), read here
/// independently of symphonia.
fn wav_frames(path: &Path) -> (u32, u16, u64) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..4], b"RIFF");
    let (mut pos, mut rate, mut channels, mut align, mut data) = (12, 0, 0, 0, 0);
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let len = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().unwrap()) as usize;
        if id == b"fmt " {
            channels = u16::from_le_bytes(b[pos + 10..pos + 12].try_into().unwrap());
            rate = u32::from_le_bytes(b[pos + 12..pos + 16].try_into().unwrap());
            align = u16::from_le_bytes(b[pos + 20..pos + 22].try_into().unwrap());
        } else if id == b"data" {
            data = len.min(b.len() - pos - 8);
        }
        pos += 8 + len + (len & 1);
    }
    (rate, channels, (data / align as usize) as u64)
}

fn resampled_len(frames: u64, rate: u32) -> u64 {
    (frames as f64 * f64::from(SAMPLE_RATE) / f64::from(rate)).round() as u64
}

#[test]
fn every_fixture_audio_file_decodes_with_its_rate_channels_and_length() {
    let f = fixtures();
    let wavs = [
        "slakh/babyslakh_16k/Track00001/mix.wav",
        "slakh/babyslakh_16k/Track00001/stems/S00.wav",
        "maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.wav",
        "guitarset/audio_hex-pickup_debleeded/03_BN3-119-G_solo_hex_cln.wav",
        "guitarset/audio_mono-mic/03_BN3-119-G_solo_mic.wav",
    ];
    for rel in wavs {
        let path = f.join(rel);
        let (rate, channels, frames) = wav_frames(&path);
        let mut n = 0u64;
        let info = audio::decode_file(&path, Channels::Downmix, SAMPLE_RATE, &mut |s| {
            n += s.len() as u64
        })
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(
            (info.source_rate, info.source_channels),
            (rate, channels),
            "{rel}"
        );
        assert_eq!(info.source_frames, frames, "{rel}");
        assert!(n.abs_diff(resampled_len(frames, rate)) <= 1, "{rel}: {n}");
    }
    // The 16 kHz mono fixtures pass through bit-exact.
    let direct = audio::decode_to_vec(&f.join(wavs[0]), Channels::Downmix, SAMPLE_RATE).unwrap();
    let b = std::fs::read(f.join(wavs[0])).unwrap();
    let data_at = b.windows(4).position(|w| w == b"data").unwrap() + 8;
    let first: i16 = i16::from_le_bytes([b[data_at], b[data_at + 1]]);
    assert_eq!(direct[0], f32::from(first) / 32768.0);
    // FLAC (Slakh redux, 44.1 kHz): the same 2 s as the 16 kHz WAV of the same track.
    let flac = audio::decode_to_vec(
        &f.join("slakh/slakh2100_flac_redux/train/Track00001/mix.flac"),
        Channels::Downmix,
        SAMPLE_RATE,
    )
    .unwrap();
    assert!(
        flac.len().abs_diff(direct.len()) <= 1,
        "{} vs {}",
        flac.len(),
        direct.len()
    );
    // One string of the 6-channel hexaphonic file.
    let hex = f.join(wavs[3]);
    for c in [0u16, 5] {
        assert!(audio::decode_to_vec(&hex, Channels::Select(c), SAMPLE_RATE).is_ok());
    }
    let err = audio::decode_to_vec(&hex, Channels::Select(6), SAMPLE_RATE).unwrap_err();
    assert!(err.to_string().contains("6 channel"), "{err}");
}

#[test]
fn damaged_audio_is_named_and_its_track_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let flac = fixtures().join("slakh/slakh2100_flac_redux/train/Track00001/mix.flac");
    let bytes = std::fs::read(&flac).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("cut.flac", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("empty.wav", Vec::new(), "empty"),
        (
            "header.wav",
            b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk".to_vec(),
            "audio",
        ),
    ];
    for (name, content, word) in &cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).unwrap();
        let err = audio::decode_to_vec(&p, Channels::Downmix, SAMPLE_RATE).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(name) && msg.contains(word), "{name}: {msg}");
    }

    // Through the pipeline: a Slakh track with a truncated stem is a problem; the other track
    // publishes.
    let h = Home::new();
    let src = fixtures().join("slakh/slakh2100_flac_redux/train/Track00001");
    let ds = h.path().join("slakh2100_flac_redux/train");
    copy_dir(&src, &ds.join("Track00001"));
    copy_dir(&src, &ds.join("Track00002"));
    let stem = ds.join("Track00002/stems/S00.flac");
    let b = std::fs::read(&stem).unwrap();
    std::fs::write(&stem, &b[..b.len() / 2]).unwrap();
    h.ok(&[
        "run",
        "--until",
        "stem",
        "--datasets",
        "slakh2100_flac_redux",
    ]);
    let problems = h.sql_csv("SELECT stage, path, error FROM problems WHERE stage = 'stem'");
    assert!(
        problems.contains("train/Track00002/stems/S00.flac") && problems.contains("truncated"),
        "{problems}"
    );
    assert_eq!(
        h.sql_csv("SELECT DISTINCT track_id FROM stems"),
        "track_id\nTrack00001\n"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// The four fixture datasets built up to shards.
fn built() -> Home {
    let h = Home::new();
    let f = fixtures();
    let list = [
        f.join("slakh/babyslakh_16k"),
        f.join("slakh/slakh2100_flac_redux"),
        f.join("maestro"),
        f.join("guitarset"),
    ]
    .map(|p| p.display().to_string())
    .join(",");
    h.ok(&["run", "--until", "shards", "--datasets", &list]);
    h
}

fn shards_of(h: &Home, dataset: &str) -> amt_cache::Artifact {
    Store::open(&h.store())
        .unwrap()
        .current_of(
            "shards",
            &Slot::variant(dataset, "melspec-128-mt3_full_plus"),
        )
        .unwrap()
        .unwrap()
}

#[test]
fn shards_hold_the_tokens_of_their_notes_and_the_spectrogram_of_their_audio() {
    use amt_symbolic::tokenizer::{SEGMENT_SAMPLES, Task};
    use arrow::array::AsArray;
    use arrow::datatypes::{Float32Type, UInt16Type};
    let h = built();
    assert_eq!(
        h.sql_csv("SELECT dataset, split, count(*) AS n FROM segments GROUP BY 1, 2 ORDER BY 1, 2"),
        "dataset,split,n\nbabyslakh_16k,train,1\nguitarset,train,2\nguitarset,unknown,20\nmaestro,train,1\nslakh2100_flac_redux,train,1\n"
    );
    // GuitarSet's pitch-shifted renderings (10 per track, in no official split) are tracks of
    // their own: notes transposed, audio shifted.
    // GuitarSet's named lists (YourMT3's file lists) sit beside the official split.
    assert_eq!(
        h.sql_csv(
            "SELECT split, count(*) AS n FROM splits WHERE dataset = 'guitarset' \
             GROUP BY 1 ORDER BY 1"
        ),
        "split,n\nBN,2\nBN_pshift,22\nall,2\nall_pshift,22\nplayer_0,1\nplayer_3,1\nprogression_1,1\nprogression_1_pshift,11\nprogression_3,1\nprogression_3_pshift,11\ntrain,2\ntrain_pshift,22\n"
    );
    let mean = h.sql_csv("SELECT round(avg(n_tokens), 1) AS t FROM segments");
    assert!(mean.starts_with("t\n") && mean.len() > 3, "{mean}");
    let store = Store::open(&h.store()).unwrap();
    let task = Task::from_name("mt3_full_plus").unwrap();
    let fe = FrontEnd::new(Codec::Melspec, 128, tch::Device::Cpu);
    let mut checked = 0;
    for dataset in [
        "babyslakh_16k",
        "slakh2100_flac_redux",
        "maestro",
        "guitarset",
    ] {
        let art = shards_of(&h, dataset);
        let stem = store
            .current_of("stem", &Slot::dataset(dataset))
            .unwrap()
            .unwrap();
        let notes_art = store
            .current_of("notes", &Slot::dataset(dataset))
            .unwrap()
            .unwrap();
        let mixes = amt_stages::shards::read_mixes(&stem).unwrap();
        for seg in amt_stages::shards::read_segments(&art).unwrap() {
            let shard = amt_model::stream::mmap::MappedShard::open(&seg.shard).unwrap();
            let (batch, r) = shard.locate(seg.row as usize).unwrap();
            let tokens: Vec<u16> = batch
                .column_by_name("tokens")
                .unwrap()
                .as_fixed_size_list()
                .value(r)
                .as_primitive::<UInt16Type>()
                .values()
                .to_vec();
            let spec: Vec<f32> = batch
                .column_by_name("spectrogram")
                .unwrap()
                .as_fixed_size_list()
                .value(r)
                .as_primitive::<Float32Type>()
                .values()
                .to_vec();
            // The spectrogram is the front-end of the segment's audio.
            let mix = mixes[&seg.track_id]
                .iter()
                .find(|m| m.name == seg.mix)
                .unwrap();
            let audio =
                amt_stages::audio::pcm::read_batch(&stem.dir.join(&mix.file), mix.batch as usize)
                    .unwrap();
            let mut wave = vec![0f32; SEGMENT_SAMPLES];
            let s = seg.start_sample as usize;
            for (d, &v) in wave
                .iter_mut()
                .zip(&audio[s..audio.len().min(s + SEGMENT_SAMPLES)])
            {
                *d = amt_stages::audio::pcm::to_f32(v);
            }
            let want: Vec<f32> = Vec::<f32>::try_from(
                fe.forward(&tch::Tensor::from_slice(&wave).view([1, SEGMENT_SAMPLES as i64]))
                    .flatten(0, -1),
            )
            .unwrap();
            let err = spec
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(err <= 1e-6, "{dataset} {}: {err}", seg.track_id);
            // The tokens decode to the segment's note onsets (10 ms ticks, encoded programs).
            let start = seg.start_sample as f64 / 16000.0;
            let decoded = amt_symbolic::decode_tokens(&tokens, start);
            let mut got: Vec<(i64, u8, u8)> = decoded
                .note_events
                .iter()
                .filter(|e| e.velocity > 0)
                .map(|e| {
                    (
                        (e.time * 100.0).round() as i64,
                        e.pitch,
                        if e.is_drum { 128 } else { e.program },
                    )
                })
                .collect();
            let groups = amt_stages::notes::read::track_notes(&notes_art, &seg.track_id).unwrap();
            let notes = amt_stages::notes::track_notes(groups);
            let end = start + SEGMENT_SAMPLES as f64 / 16000.0;
            let mut want: Vec<(i64, u8, u8)> = notes
                .iter()
                .filter(|n| n.onset >= start && n.onset < end)
                .map(|n| {
                    let p = if n.is_drum {
                        task.encoded_drum(n.pitch)
                    } else {
                        n.pitch
                    };
                    let prog = if n.is_drum {
                        128
                    } else {
                        task.encoded_program(n.program)
                    };
                    ((n.onset * 100.0).round() as i64, p, prog)
                })
                .collect();
            got.sort();
            want.sort();
            want.dedup();
            got.dedup();
            assert_eq!(got, want, "{dataset} {} at {start}", seg.track_id);
            checked += 1;
        }
    }
    // 5 source segments and 20 of GuitarSet's renderings: their tokens are those of their
    // transposed notes, their spectrograms those of their shifted audio.
    assert_eq!(checked, 25);
    let pitches = |id: &str| {
        h.sql_csv(&format!(
            "SELECT count(*) AS n, sum(pitch) AS s FROM notes \
             WHERE dataset = 'guitarset' AND track_id = '{id}'"
        ))
    };
    let parse = |csv: String| -> (i64, i64) {
        let row = csv.lines().nth(1).unwrap().to_string();
        let (n, s) = row.split_once(',').unwrap();
        (n.parse().unwrap(), s.parse().unwrap())
    };
    let (n, s) = parse(pitches("03_BN3-119-G_solo"));
    assert!(n > 0);
    assert_eq!(parse(pitches("03_BN3-119-G_solo_pshift2")), (n, s + 2 * n));
    assert_eq!(parse(pitches("03_BN3-119-G_solo_pshift-5")), (n, s - 5 * n));
}

fn segments(dataset: &str, entries: usize, per_entry: usize) -> DatasetSegments {
    let mut segments = Vec::new();
    for e in 0..entries {
        for k in 0..per_entry {
            segments.push(SegmentInfo {
                track_id: format!("{dataset}-{e}"),
                mix: "mix".into(),
                split: "train".into(),
                shard: PathBuf::from("/unused"),
                row: k as u32,
                start_sample: (k * 32767) as u64,
            });
        }
    }
    DatasetSegments {
        dataset: dataset.into(),
        weight: 1.0,
        segments,
    }
}

#[test]
fn the_sampler_follows_yourmt3s_weights() {
    // Three datasets with different entry counts and weights.
    let mut ds = vec![
        segments("a", 30, 4),
        segments("b", 100, 2),
        segments("c", 10, 8),
    ];
    ds[0].weight = 0.5;
    ds[1].weight = 0.2;
    ds[2].weight = 0.3;
    let s = Sampler::new(&ds, Some("train"), 7).unwrap();
    let n = 10_000;
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..n {
        *counts
            .entry(s.dataset_name(s.draw(i)).to_string())
            .or_default() += 1;
    }
    // p_d ∝ w_d n_d (1 - n_d / N), N = 140.
    let raw = [
        0.5 * 30.0 * (1.0 - 30.0 / 140.0),
        0.2 * 100.0 * (1.0 - 100.0 / 140.0),
        0.3 * 10.0 * (1.0 - 10.0 / 140.0),
    ];
    let total: f64 = raw.iter().sum();
    for (name, r) in ["a", "b", "c"].iter().zip(raw) {
        let p = r / total;
        let got = counts[*name] as f64 / n as f64;
        assert!((got - p).abs() < 0.02, "{name}: {got} vs {p}");
        let reported = s.probabilities().iter().find(|(d, _)| d == name).unwrap().1;
        assert!((reported - p).abs() < 1e-12);
    }
    // The same seed gives the same draws; another seed others.
    let again = Sampler::new(&ds, Some("train"), 7).unwrap();
    assert!((0..1000).all(|i| s.draw(i) == again.draw(i)));
    let other = Sampler::new(&ds, Some("train"), 8).unwrap();
    assert!((0..1000).any(|i| s.draw(i) != other.draw(i)));
}

#[test]
fn the_stream_is_deterministic_and_resumes_exactly() {
    let h = built();
    let ds: Vec<DatasetSegments> = ["babyslakh_16k", "maestro", "guitarset"]
        .iter()
        .map(|d| DatasetSegments {
            dataset: d.to_string(),
            weight: 1.0,
            segments: amt_stages::shards::read_segments(&shards_of(&h, d)).unwrap(),
        })
        .collect();
    let cfg = StreamConfig {
        seed: 3,
        batch_size: 4,
        rank: 0,
        world: 1,
        prefetch: 4,
        workers: 2,
        frames: 256,
        bins: 512,
        channels: 1,
        length: 1024,
        open_files: 2,
    };
    // Per batch: its rows (dataset, track, start sample) and a checksum of its spectrograms.
    type Seen = Vec<(Vec<(String, String, u64)>, f64)>;
    let run_rank = |start: u64, n: usize, cfg: StreamConfig| -> Seen {
        let mut s = Stream::open(Sampler::new(&ds, None, 3).unwrap(), cfg.clone(), start);
        (0..n)
            .map(|_| {
                let b = s.next_batch().unwrap();
                let rows = cfg.batch_size as i64;
                assert_eq!(b.spectrogram.size(), vec![rows, 256, 512]);
                assert_eq!(b.tokens.size(), vec![rows, 1, 1024]);
                (
                    b.rows,
                    b.spectrogram.sum(tch::Kind::Double).double_value(&[]),
                )
            })
            .collect()
    };
    let run = |start: u64, n: usize| run_rank(start, n, cfg.clone());
    let straight = run(0, 6);
    assert_eq!(run(0, 6), straight);
    // Stopped after 3 batches and reopened at position 3: the same last 3.
    assert_eq!(run(3, 3), straight[3..].to_vec());
    // Two ranks of 2 rows read disjoint halves of the same global batches, resumed too.
    let half = |rank| StreamConfig {
        batch_size: 2,
        rank,
        world: 2,
        ..cfg.clone()
    };
    let (r0, r1) = (run_rank(3, 3, half(0)), run_rank(3, 3, half(1)));
    for ((a, b), whole) in r0.iter().zip(&r1).zip(&straight[3..]) {
        let joined: Vec<_> = a.0.iter().chain(&b.0).cloned().collect();
        assert_eq!(joined, whole.0);
    }
}

#[test]
fn features_writes_npy_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let wav =
        fixtures().join("maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.wav");
    let (npy, png) = (dir.path().join("f.npy"), dir.path().join("f.png"));
    let out = std::process::Command::new(common::amt_bin())
        .arg("features")
        .arg(&wav)
        .args(["--codec", "spec", "--npy"])
        .arg(&npy)
        .arg("--png")
        .arg(&png)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (shape, values) = amt_model::npy::read::<f32>(&npy).unwrap();
    assert_eq!(shape, vec![1, 110, 1024]);
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    // A waveform .npy at 16 kHz: 40000 samples give 2 segments.
    let w = dir.path().join("w.npy");
    let wave: Vec<f32> = (0..40000).map(|i| (i as f32 * 0.05).sin() * 0.5).collect();
    amt_model::npy::write(&w, &[40000], &wave).unwrap();
    let out = std::process::Command::new(common::amt_bin())
        .args(["features", "--waveform-npy"])
        .arg(&w)
        .arg("--npy")
        .arg(&npy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        amt_model::npy::read::<f32>(&npy).unwrap().0,
        vec![2, 256, 512]
    );
    // An unreadable file is named; the command fails.
    let bad = dir.path().join("bad.wav");
    std::fs::write(&bad, b"nope").unwrap();
    let out = std::process::Command::new(common::amt_bin())
        .arg("features")
        .arg(&bad)
        .arg("--npy")
        .arg(&npy)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.wav"));
}

/// `train_stride`: training tracks get overlapping segments every `stride` samples (their
/// tokens still decode to the notes of each window); validation and test tracks keep the
/// evaluation layout; the variant names the stride.
#[test]
fn a_training_stride_overlaps_training_segments_only() {
    let h = Home::new();
    amt_stages::synth::generate(
        &h.path().join("mini-synth-demo"),
        &amt_stages::synth::SynthConfig { seed: 3, pieces: 8 },
    )
    .unwrap();
    h.write(
        "amt.toml",
        b"[stage.shards]\nn_mels = 128\ntrain_stride = 8192\n",
    );
    h.ok(&["run", "--until", "shards", "--datasets", "mini-synth-demo"]);
    let store = Store::open(&h.store()).unwrap();
    let art = store
        .current_of(
            "shards",
            &Slot::variant("mini-synth-demo", "melspec128-128-mt3_full_plus-s8192"),
        )
        .unwrap()
        .expect("the stride is part of the variant");
    let stem = store
        .current_of("stem", &Slot::dataset("mini-synth-demo"))
        .unwrap()
        .unwrap();
    let notes_art = store
        .current_of("notes", &Slot::dataset("mini-synth-demo"))
        .unwrap()
        .unwrap();
    let mixes = amt_stages::shards::read_mixes(&stem).unwrap();
    let segs = amt_stages::shards::read_segments(&art).unwrap();
    let mut splits_seen = std::collections::BTreeSet::new();
    for (track, m) in &mixes {
        let n = m[0].n_samples;
        let mut starts: Vec<u64> = segs
            .iter()
            .filter(|s| &s.track_id == track)
            .map(|s| s.start_sample)
            .collect();
        starts.sort();
        let split = &segs.iter().find(|s| &s.track_id == track).unwrap().split;
        splits_seen.insert(split.clone());
        let step = if split == "train" { 8192 } else { 32767 };
        let want: Vec<u64> = (0..n.max(1)).step_by(step).collect();
        assert_eq!(starts, want, "{track} ({split}, {n} samples)");
    }
    assert!(
        splits_seen.contains("train") && splits_seen.contains("test"),
        "{splits_seen:?}"
    );
    // Overlapping windows hold the notes whose onsets fall in them.
    let mut checked = 0;
    for seg in segs
        .iter()
        .filter(|s| s.split == "train" && s.start_sample % 32767 != 0)
        .take(6)
    {
        use arrow::array::AsArray;
        use arrow::datatypes::UInt16Type;
        let shard = amt_model::stream::mmap::MappedShard::open(&seg.shard).unwrap();
        let (batch, r) = shard.locate(seg.row as usize).unwrap();
        let col = batch
            .column_by_name("tokens")
            .unwrap()
            .as_fixed_size_list()
            .value(r);
        let tokens = col.as_primitive::<UInt16Type>().values().to_vec();
        let start = seg.start_sample as f64 / 16000.0;
        // (pitch, 10 ms tick from the window start), both sides quantised the same way up to
        // one tick (the window does not start on a 10 ms boundary).
        let mut got: Vec<(u8, i64)> = amt_symbolic::decode_tokens(&tokens, start)
            .note_events
            .iter()
            .filter(|e| e.velocity > 0 && !e.is_drum)
            .map(|e| (e.pitch, ((e.time - start) * 100.0).round() as i64))
            .collect();
        let groups = amt_stages::notes::read::track_notes(&notes_art, &seg.track_id).unwrap();
        let end = start + 32767.0 / 16000.0;
        let mut want: Vec<(u8, i64)> = amt_stages::notes::track_notes(groups)
            .iter()
            .filter(|n| !n.is_drum && n.onset >= start && n.onset < end)
            .map(|n| (n.pitch, ((n.onset - start) * 100.0).round() as i64))
            .collect();
        got.sort();
        got.dedup();
        want.sort();
        want.dedup();
        assert!(!want.is_empty());
        assert_eq!(
            got.len(),
            want.len(),
            "{} at {start}: {got:?} vs {want:?}",
            seg.track_id
        );
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g.0 == w.0 && (g.1 - w.1).abs() <= 1,
                "{} at {start}: {got:?} vs {want:?}",
                seg.track_id
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 6);
}
