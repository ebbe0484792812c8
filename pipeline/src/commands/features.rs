//! `amt features`: the front-end output for audio files, as the pipeline computes it: decode
//! (any rate, any channels, downmixed), resample to 16 kHz, cut YourMT3's evaluation segments
//! (non-overlapping 32767-sample windows from 0, the last zero-padded), then the spectrogram of
//! each. Written as a float32 `.npy` of shape (segments, frames, bins) and/or a PNG.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amt_model::frontend::{Codec, FrontEnd};
use amt_model::npy;
use amt_stages::audio::{self, Channels, SAMPLE_RATE};
use amt_symbolic::tokenizer::SEGMENT_SAMPLES;

use crate::cli::{FeaturesArgs, with_hint};
use crate::plot::HeatMap;

/// A float32 `.npy` waveform at 16 kHz, shape (samples,) or (1, samples).
pub(crate) fn read_waveform_npy(path: &Path) -> anyhow::Result<Vec<f32>> {
    let (shape, data) = npy::read::<f32>(path).map_err(|e| {
        with_hint(
            anyhow::anyhow!("{e}"),
            "give a float32 .npy waveform at 16 kHz, shape (samples,) or (1, samples)",
        )
    })?;
    anyhow::ensure!(
        shape.len() == 1 || (shape.len() == 2 && shape[0] == 1),
        "`{}` has shape {shape:?}; a waveform is (samples,) or (1, samples)",
        path.display()
    );
    Ok(data)
}

/// YourMT3's evaluation segments of a waveform: non-overlapping 32767-sample windows from 0,
/// the last zero-padded (at least one). Returns the count and the padded samples.
pub(crate) fn segments_of(samples: &[f32]) -> (usize, Vec<f32>) {
    let n_seg = samples.len().div_ceil(SEGMENT_SAMPLES).max(1);
    let mut padded = vec![0f32; n_seg * SEGMENT_SAMPLES];
    padded[..samples.len()].copy_from_slice(samples);
    (n_seg, padded)
}

pub fn features(args: &FeaturesArgs) -> anyhow::Result<ExitCode> {
    let codec = Codec::parse(&args.codec).ok_or_else(|| {
        with_hint(
            anyhow::anyhow!("codec `{}` is unknown", args.codec),
            "use `--codec melspec` (YMT3+) or `--codec spec` (Perceiver-TF)",
        )
    })?;
    let hop = args.hop.unwrap_or(codec.default_hop());
    anyhow::ensure!(hop > 0, "--hop must be positive");
    if args.npy.is_none() && args.png.is_none() {
        return Err(with_hint(
            anyhow::anyhow!("nothing to write"),
            "give `--npy OUT.npy`, `--png OUT.png`, or both",
        ));
    }
    let mut inputs: Vec<(String, Vec<f32>)> = Vec::new();
    let mut failed = 0;
    if let Some(w) = &args.waveform_npy {
        let data = read_waveform_npy(w)?;
        inputs.push((stem(w), data));
    }
    for a in &args.audio {
        match audio::decode_to_vec(a, Channels::Downmix, SAMPLE_RATE) {
            Ok(samples) => inputs.push((stem(a), samples)),
            Err(e) => {
                tracing::error!("{e}");
                failed += 1;
            }
        }
    }
    if inputs.is_empty() {
        return Err(with_hint(
            anyhow::anyhow!("no audio could be read"),
            "give audio files (WAV, FLAC, MP3, OGG) or `--waveform-npy IN.npy`",
        ));
    }
    anyhow::ensure!(args.n_mels > 0, "--n-mels must be positive");
    let fe = FrontEnd::with_mels(codec, hop, args.n_mels, tch::Device::Cpu);
    let several = inputs.len() > 1;
    for (name, samples) in &inputs {
        let (n_seg, padded) = segments_of(samples);
        let x = tch::Tensor::from_slice(&padded).view([n_seg as i64, SEGMENT_SAMPLES as i64]);
        let y = fe.forward(&x);
        let (frames, bins) = (
            fe.frames(SEGMENT_SAMPLES as i64) as usize,
            fe.bins() as usize,
        );
        let values: Vec<f32> = Vec::<f32>::try_from(y.flatten(0, -1))?;
        if let Some(out) = &args.npy {
            let path = output_path(out, name, several);
            npy::write(&path, &[n_seg, frames, bins], &values)?;
            println!(
                "{}: {n_seg} segment(s) x {frames} frames x {bins} bins -> {}",
                name,
                path.display()
            );
        }
        if let Some(out) = &args.png {
            let path = output_path(out, name, several);
            write_png(&path, &values, n_seg, frames, bins, codec, hop, name)?;
            println!("{}: spectrogram picture -> {}", name, path.display());
        }
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "audio".into())
}

/// `OUT` itself for one input; `OUT` with `-<input name>` before the extension for several.
fn output_path(out: &Path, name: &str, several: bool) -> PathBuf {
    if !several {
        return out.to_owned();
    }
    let ext = out
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = out.with_extension("");
    PathBuf::from(format!("{}-{name}.{ext}", base.display()))
}

/// Segments side by side in time; rows are frequency bins (low at the bottom).
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_png(
    path: &Path,
    values: &[f32],
    n_seg: usize,
    frames: usize,
    bins: usize,
    codec: Codec,
    hop: i64,
    name: &str,
) -> anyhow::Result<()> {
    // (segments, frames, bins) -> (bins, segments * frames).
    let cols = n_seg * frames;
    let mut grid = vec![0f32; bins * cols];
    for s in 0..n_seg {
        for f in 0..frames {
            for b in 0..bins {
                grid[b * cols + s * frames + f] = values[(s * frames + f) * bins + b];
            }
        }
    }
    let ticks: Vec<(usize, String)> = match codec {
        Codec::Melspec => [100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0]
            .iter()
            .map(|&hz| (mel_row(hz, bins), hz_label(hz)))
            .collect(),
        Codec::Spec => (0..=8)
            .map(|k| {
                let hz = k as f64 * 1000.0;
                // Bin b (DC dropped) is at (b + 1) * 8000 / 1024 Hz.
                (
                    ((hz / (8000.0 / 1024.0)) as usize).saturating_sub(1),
                    hz_label(hz),
                )
            })
            .collect(),
    };
    let seconds_per_col = hop as f64 / f64::from(SAMPLE_RATE);
    let title = format!("{name}: {} hop {hop}", codec.name());
    let hm = HeatMap {
        values: &grid,
        rows: bins,
        cols,
        seconds_per_col,
        row_ticks: ticks,
        row_label: "frequency (Hz)",
        title: &title,
    };
    hm.render(2400).save_png(path)?;
    Ok(())
}

fn hz_label(hz: f64) -> String {
    if hz >= 1000.0 {
        format!("{}k", hz / 1000.0)
    } else {
        format!("{hz}")
    }
}

/// The mel band whose centre is nearest `hz` (HTK scale over 50-8000 Hz).
fn mel_row(hz: f64, bins: usize) -> usize {
    let mel = |f: f64| 2595.0 * (1.0 + f / 700.0).log10();
    let (lo, hi) = (mel(50.0), mel(8000.0));
    let pos = (mel(hz) - lo) / (hi - lo) * (bins + 1) as f64 - 1.0;
    pos.round().clamp(0.0, (bins - 1) as f64) as usize
}
