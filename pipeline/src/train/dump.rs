//! `amt train EXP --dry-run-batches N --dump DIR`: what the model would be fed, to listen to and
//! look at. The first N segments of the training stream (the rows of its first batches, in
//! order), built as training builds them (same seed, same draws, same augmentation), each
//! written as
//! - `bKKK-RR.wav`: the audio the front-end sees (16 kHz mono; scaled down only if it peaks
//!   over full scale, which `index.json` records as `wav_gain`);
//! - `bKKK-RR.mid`: its targets, decoded back from the token rows the model is trained on;
//! - `bKKK-RR.png`: its spectrogram as the model gets it;
//!
//! and `index.json` listing every segment's sources, pitch shift, gains and note counts. The
//! folder appears whole (built beside it, then renamed) or not at all; nothing is trained and
//! no run is created.

use std::path::Path;

use amt_model::stream::{Sampler, draw_range};
use amt_symbolic::notes_to_midi;
use amt_symbolic::tokenizer::SEGMENT_SAMPLES;
use anyhow::Context as _;
use serde_json::json;

use super::augmented::{AugmentedSource, Item, encode};
use super::data;
use super::infer::notes_from_rows;
use super::resolve::TrainPlan;
use super::trainer::stream_config;
use crate::context::Context;

/// Writes the dump; returns the `index.json` value.
pub fn dry_run(
    ctx: &Context,
    plan: &TrainPlan,
    seed: u64,
    segments: u64,
    dir: &Path,
    quiet: bool,
) -> anyhow::Result<serde_json::Value> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!(
            "--dump {}: the folder exists and is not empty; name a new or empty one",
            dir.display()
        );
    }
    let datasets = data::build(ctx, plan, quiet)?;
    // One thread, as the stream's workers compute: the same bits as training sees (a
    // multi-threaded BLAS may split its sums differently from run to run on a busy machine).
    tch::set_num_threads(1);
    let store = ctx.open_store()?;
    let run_data = data::load(&store, plan, &datasets, 0, true)?;
    let sampler = Sampler::new(&run_data.train, Some("train"), seed).map_err(anyhow::Error::msg)?;
    let cfg = stream_config(plan, seed, (0, 1), 1);
    let source = AugmentedSource::for_plan(plan, &run_data, sampler, cfg.clone(), true)?;
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create `{}`", parent.display()))?;
    let tmp = amt_cache::atomic::unique_temp_name(parent, "dump");
    std::fs::create_dir(&tmp)?;
    let result = (|| -> anyhow::Result<serde_json::Value> {
        let mut entries = Vec::new();
        let bar = if quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(segments)
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "dump [{bar:30}] segment {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        let per_batch = cfg.batch_size as u64;
        for k in 0..segments.div_ceil(per_batch) {
            let items: Vec<Item> = draw_range(k, cfg.batch_size, 0, 1)
                .take((segments - k * per_batch).min(per_batch) as usize)
                .map(|i| source.item(i))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?;
            let spec = source.spectrograms(&items);
            let (frames, bins) = (spec.size()[1] as usize, spec.size()[2] as usize);
            let spec: Vec<f32> = Vec::<f32>::try_from(spec.flatten(0, -1))?;
            for (r, it) in items.iter().enumerate() {
                let name = format!("b{k:03}-{r:02}");
                let a = &it.augmented;
                let peak = a.audio.iter().fold(0f32, |m, &x| m.max(x.abs()));
                let wav_gain = if peak > 1.0 { 1.0 / peak } else { 1.0 };
                let scaled: Vec<f32> = a.audio.iter().map(|&x| x * wav_gain).collect();
                std::fs::write(
                    tmp.join(format!("{name}.wav")),
                    amt_stages::synth::wav_bytes(&scaled),
                )?;
                // The targets as the model reads them: the token rows, decoded.
                let enc =
                    encode(&source.task, &a.notes, a.window_start).map_err(anyhow::Error::msg)?;
                let rows: Vec<Vec<i64>> = enc
                    .tokens
                    .chunks(source.task.max_len)
                    .map(|row| row.iter().map(|&t| i64::from(t)).collect())
                    .collect();
                let notes = notes_from_rows(&[rows], &[0.0]);
                std::fs::write(tmp.join(format!("{name}.mid")), notes_to_midi(&notes)?)?;
                crate::commands::features::write_png(
                    &tmp.join(format!("{name}.png")),
                    &spec[r * frames * bins..(r + 1) * frames * bins],
                    1,
                    frames,
                    bins,
                    source.codec,
                    source.hop,
                    &format!("{name} {}", a.label),
                )?;
                entries.push(json!({
                    "name": name,
                    "dataset": it.dataset,
                    "track": it.track,
                    "start_sample": it.start_sample,
                    "sources": a.label,
                    "externals": a.externals,
                    "gains": a.gains,
                    "semitones": a.semitones,
                    "notes_dropped_by_shift": a.dropped_notes,
                    "target_notes": notes.len(),
                    "truncated_tokens": enc.truncated,
                    "wav_gain": wav_gain,
                    "samples": SEGMENT_SAMPLES,
                }));
                bar.inc(1);
            }
        }
        bar.finish_and_clear();
        let index = json!({
            "seed": seed,
            "count": segments,
            "batch_size": cfg.batch_size,
            "augment": plan.augment,
            "codec": plan.codec,
            "hop_length": plan.hop_length,
            "task": plan.task,
            "segments": entries,
        });
        std::fs::write(tmp.join("index.json"), serde_json::to_vec_pretty(&index)?)?;
        for f in std::fs::read_dir(&tmp)? {
            std::fs::File::open(f?.path())?.sync_all()?;
        }
        if dir.exists() {
            std::fs::remove_dir(dir)?;
        }
        std::fs::rename(&tmp, dir)?;
        amt_cache::atomic::sync_dir(parent)?;
        Ok(index)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}
