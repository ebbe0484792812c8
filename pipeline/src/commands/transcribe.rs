//! `amt transcribe`: audio files to MIDI with a trained checkpoint. Each file is decoded (any
//! format symphonia reads, any rate and channel count), downmixed, resampled to 16 kHz, cut
//! into YourMT3's non-overlapping 32767-sample segments (the last zero-padded), decoded
//! greedily in batches, and its segments merged into notes. A file that cannot be read is
//! reported; the others are still transcribed.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amt_model::checkpoint;
use amt_model::frontend::{Codec, FrontEnd};
use amt_model::ymt3::Ymt3;
use amt_stages::audio::{self, Channels, SAMPLE_RATE};
use amt_symbolic::Note;
use amt_symbolic::tokenizer::SEGMENT_SAMPLES;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use tch::{Device, Tensor, nn};

use crate::cli::{TranscribeArgs, with_hint};
use crate::context::Context;
use crate::train::infer::{Decoding, generate_rows, notes_from_rows};
use crate::train::resolve::ModelCard;

/// A model ready to transcribe: its weights, its front-end.
pub struct Transcriber {
    pub model: Ymt3,
    _vs: nn::VarStore,
    pub frontend: FrontEnd,
    pub decoding: Decoding,
}

impl Transcriber {
    /// Loads checkpoint folder `dir` (checking its hashes), or the weights `amt convert`
    /// wrote (a `.safetensors` file with its `.json` beside it), onto `device`.
    pub fn load(dir: &Path, device: Device, batch: usize) -> anyhow::Result<Transcriber> {
        let (card, weights): (ModelCard, std::path::PathBuf) = if dir.is_file() {
            let side = super::convert::sidecar(dir);
            let text = fs_err::read(&side).map_err(|e| {
                with_hint(
                    anyhow::anyhow!("{e}"),
                    "weights given as a file are `amt convert`'s output: its OUT.json must lie beside OUT.safetensors",
                )
            })?;
            let c: super::convert::Converted = serde_json::from_slice(&text)
                .map_err(|e| anyhow::anyhow!("`{}`: {e}", side.display()))?;
            (c.card, dir.to_path_buf())
        } else {
            let state = checkpoint::read_state(dir).map_err(anyhow::Error::msg)?;
            let card = serde_json::from_value(state.config.clone()).map_err(|e| {
                anyhow::anyhow!(
                    "checkpoint `{}` does not say what model it holds ({e})",
                    dir.display()
                )
            })?;
            (card, dir.join(checkpoint::MODEL))
        };
        let mut vs = nn::VarStore::new(device);
        let model = Ymt3::new(&vs.root(), &card.model).map_err(anyhow::Error::msg)?;
        vs.load(&weights)
            .map_err(|e| anyhow::anyhow!("checkpoint `{}`: {e}", dir.display()))?;
        let codec = Codec::parse(&card.codec)
            .ok_or_else(|| anyhow::anyhow!("checkpoint `{}`: unknown codec", dir.display()))?;
        Ok(Transcriber {
            decoding: Decoding {
                device,
                batch: batch.max(1),
                bf16: false,
                max_len: card.model.event_length,
            },
            model,
            _vs: vs,
            frontend: FrontEnd::with_mels(codec, card.hop_length, card.n_mels, device),
        })
    }

    /// The notes of a 16 kHz mono waveform; `on_progress(done, total)` per batch of segments.
    pub fn transcribe(
        &self,
        samples: &[f32],
        mut on_progress: impl FnMut(usize, usize),
    ) -> Vec<Note> {
        let (n_seg, padded) = super::features::segments_of(samples);
        let wave = Tensor::from_slice(&padded).view([n_seg as i64, SEGMENT_SAMPLES as i64]);
        let spec = tch::no_grad(|| {
            // The front-end in chunks: memory stays bounded for long files.
            let chunks: Vec<Tensor> = (0..n_seg as i64)
                .step_by(64)
                .map(|s| {
                    let len = 64.min(n_seg as i64 - s);
                    self.frontend
                        .forward(&wave.narrow(0, s, len).to_device(self.decoding.device))
                        .to_device(Device::Cpu)
                })
                .collect();
            Tensor::cat(&chunks, 0)
        });
        let rows = generate_rows(&self.model, &spec, self.decoding, |done| {
            on_progress(done, n_seg)
        });
        let starts: Vec<f64> = (0..n_seg)
            .map(|i| (i * SEGMENT_SAMPLES) as f64 / SAMPLE_RATE as f64)
            .collect();
        notes_from_rows(&rows, &starts)
    }
}

/// The checkpoint `--exp` names: the newest that loads in the run's folder.
pub fn checkpoint_of_run(ctx: &Context, exp: &str) -> anyhow::Result<PathBuf> {
    let store = ctx.open_store()?;
    let dir = crate::train::trainer::checkpoints_dir(&store.run_dir(exp));
    for (_, ckpt) in checkpoint::list(&dir) {
        match checkpoint::read_state(&ckpt) {
            Ok(_) => return Ok(ckpt),
            Err(e) => tracing::warn!("{e}; using the previous checkpoint"),
        }
    }
    Err(with_hint(
        anyhow::anyhow!(
            "run `{exp}` has no usable checkpoint in `{}`",
            dir.display()
        ),
        "train it first (`amt train EXP_ID ...`), or give --checkpoint PATH",
    ))
}

pub fn transcribe(ctx: &Context, args: &TranscribeArgs) -> anyhow::Result<ExitCode> {
    let ckpt = match (&args.checkpoint, &args.exp) {
        (Some(c), _) => c.clone(),
        (None, Some(exp)) => checkpoint_of_run(ctx, exp)?,
        (None, None) => unreachable!("clap requires one"),
    };
    let device = crate::train::parse_device(args.device.as_deref())?;
    let t = Transcriber::load(&ckpt, device, args.batch_size)?;
    fs_err::create_dir_all(&args.out)?;
    let mut failed = 0;
    let mut written = Vec::new();
    for path in &args.audio {
        let samples = match audio::decode_to_vec(path, Channels::Downmix, SAMPLE_RATE) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("{e}");
                failed += 1;
                continue;
            }
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "audio".into());
        let bar = if ctx.quiet || args.json {
            ProgressBar::hidden()
        } else {
            ProgressBar::new(0)
        };
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} segments eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(name.clone());
        let notes = t.transcribe(&samples, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        });
        bar.finish_and_clear();
        let midi = args.out.join(format!("{name}.mid"));
        amt_cache::atomic::write_file(&midi, &amt_symbolic::notes_to_midi(&notes)?)?;
        let png = if args.png {
            let p = args.out.join(format!("{name}.png"));
            crate::pianoroll::write_png(&p, &[(name.as_str(), &notes)])?;
            Some(p)
        } else {
            None
        };
        if !args.json {
            println!(
                "{}: {} notes -> {}",
                path.display(),
                notes.len(),
                midi.display()
            );
        }
        written.push(json!({"audio": path, "notes": notes.len(), "midi": midi, "png": png}));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"checkpoint": ckpt, "files": written, "failed": failed})
            )?
        );
    }
    if written.is_empty() {
        return Err(with_hint(
            anyhow::anyhow!("no audio could be read"),
            "give audio files symphonia reads: WAV, FLAC, MP3, OGG/Vorbis",
        ));
    }
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
