//! The training loop: stream batches, teacher-forced loss, backward, clipping, the optimiser
//! step; validation every `val_interval` steps; checkpoints; metrics.
//!
//! **Exact resume.** Everything a step depends on is a function of the checkpoint: the weights
//! and the optimiser's moments (saved), the learning rate (a function of the step), the batch
//! (the stream is counter-based: batch k is the same whatever ran before), and the random
//! numbers (dropout), seeded at every step from (seed, step). So N steps, a kill, a resume and
//! N more steps give the same parameters as 2N steps straight (tested).
//!
//! **Data parallel** ([`super::ddp`]): every rank takes its own rows of each global batch,
//! gradients are averaged over ranks in buckets, and each rank's loss is weighted by its share
//! of the batch's target tokens, so 2 ranks x B rows step exactly as 1 rank x 2B rows (up to
//! float rounding; tested). Rank 0 alone loads and writes checkpoints and logs; it broadcasts
//! the weights, moments and position it resumed from. Validation files are split over ranks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use amt_dist::{Dist, GradOrderWatch, OverlappedGrads};
use amt_model::checkpoint::{self, TrainState};
use amt_model::optim::{Adam, clip_grad_norm, learning_rate};
use amt_model::stream::{Sampler, ShardReader, Stream, StreamConfig};
use amt_model::syncbn::SyncBn;
use amt_model::ymt3::Ymt3;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tch::{Device, nn};

use super::augmented::AugmentedSource;
use super::data::RunData;
use super::ddp;
use super::infer::{Decoding, score_tracks};
use super::log::MetricsLog;
use super::resolve::TrainPlan;

/// The metric checkpoints are ranked by (YourMT3's monitor).
pub const MONITOR: &str = "validation/macro_onset_f";

/// The training loss of the step a checkpoint was taken at, kept in its metrics.
const LAST_LOSS: &str = "train/loss";

/// How a run trains, beyond the plan.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub seed: u64,
    pub checkpoint_every: i64,
    /// Checkpoints kept besides the two newest: the best by [`MONITOR`].
    pub top_k: usize,
    pub device: Device,
    /// Intra-op threads of the training thread.
    pub threads: i32,
    /// Threads building batches ahead.
    pub workers: usize,
    pub quiet: bool,
    /// Stop (with a checkpoint) after this many steps of this process, as if interrupted.
    pub stop_after: Option<i64>,
    /// Gradient bucket size of data-parallel runs.
    pub bucket_bytes: usize,
    /// Data parallel: all-reduce gradient buckets during the backward pass.
    pub ddp_overlap: bool,
    /// Resume even when the run's pinned inputs changed (and pin the current ones).
    pub repin: bool,
    /// The augmented stream hands over audio and the front-end runs on `device` (else the
    /// stream's workers compute spectrograms on the CPU).
    pub frontend_on_device: bool,
}

/// Whether data-parallel gradients are all-reduced during the backward pass.
enum Overlap {
    Off,
    /// From the next step on (this one watches the order the gradients arrive in).
    Wanted,
    Hooked(OverlappedGrads),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainOutcome {
    pub steps: i64,
    pub final_loss: f64,
    pub checkpoint: PathBuf,
    /// The step this process started from (0 for a new run).
    pub resumed_from: i64,
    pub train_seconds: f64,
    /// The last validation's values.
    pub metrics: BTreeMap<String, f64>,
    /// Whether the loop stopped before `max_steps` (Ctrl-C or `stop_after`).
    pub stopped_early: bool,
    /// Data parallel: gradient buckets this process all-reduced during backward passes.
    pub ddp_buckets_overlapped: usize,
}

pub fn checkpoints_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints")
}

/// The newest checkpoint of a run that loads, skipping (with a warning naming it) any that is
/// corrupt or truncated.
pub fn load_latest(
    run_dir: &Path,
    vs: &mut nn::VarStore,
    opt: &mut Adam,
) -> Option<(PathBuf, TrainState)> {
    for (_, dir) in checkpoint::list(&checkpoints_dir(run_dir)) {
        match checkpoint::load(&dir, vs, opt) {
            Ok(state) => return Some((dir, state)),
            Err(e) => tracing::warn!("{e}; using the previous checkpoint"),
        }
    }
    None
}

/// The run's checkpoint with the best [`MONITOR`] value (YourMT3's model selection), if any
/// checkpoint recorded one.
pub fn best_checkpoint(run_dir: &Path) -> Option<(PathBuf, f64)> {
    checkpoint::list(&checkpoints_dir(run_dir))
        .into_iter()
        .filter_map(|(_, dir)| {
            let v = *checkpoint::read_state_unchecked(&dir)
                .ok()?
                .metrics
                .get(MONITOR)?;
            Some((dir, v))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// The stream of a plan's training rows: this rank's rows of each global batch, shaped as the
/// model reads them, built by `workers` threads.
pub fn stream_config(
    plan: &TrainPlan,
    seed: u64,
    (rank, world): (usize, usize),
    workers: usize,
) -> StreamConfig {
    StreamConfig {
        seed,
        batch_size: plan.batch_size,
        rank,
        world,
        prefetch: 2 * workers.max(1),
        workers: workers.max(1),
        frames: plan.model.feat_length,
        bins: plan.model.d_feat,
        channels: plan.model.num_channels,
        length: plan.model.event_length,
        open_files: 1024,
    }
}

/// Per-step seed: (seed, step) mixed so that consecutive steps are unrelated.
fn step_seed(seed: u64, step: i64) -> i64 {
    let mut z = seed ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// A run's identity and folder (rank 0 holds its lock).
#[derive(Debug, Clone, Copy)]
pub struct RunRef<'a> {
    pub id: &'a str,
    pub dir: &'a Path,
}

pub fn train(
    run: RunRef,
    plan: &TrainPlan,
    data: &RunData,
    opts: &TrainOptions,
    cancel: &AtomicBool,
    dist: Option<&Dist>,
) -> anyhow::Result<TrainOutcome> {
    let started = Instant::now();
    let (rank, world) = dist.map_or((0, 1), |d| (d.rank, d.world));
    let leader = rank == 0;
    tch::manual_seed(step_seed(opts.seed, -1));
    let mut vs = nn::VarStore::new(opts.device);
    let model = Ymt3::new(&vs.root(), &plan.model).map_err(anyhow::Error::msg)?;
    let mut opt = Adam::new(plan.optimizer);
    let loaded = if leader {
        load_latest(run.dir, &mut vs, &mut opt)
    } else {
        None
    };
    let (mut state, mut last_ckpt) = match loaded {
        Some((dir, s)) => {
            tracing::info!(
                "resuming run `{}` from {} (step {})",
                run.id,
                dir.display(),
                s.step
            );
            (s, Some(dir))
        }
        None => (
            TrainState {
                step: 0,
                stream_position: 0,
                seed: opts.seed,
                lr: plan.lr,
                metrics: BTreeMap::new(),
                hashes: BTreeMap::new(),
                config: serde_json::to_value(plan.card()).expect("a card serializes"),
            },
            None,
        ),
    };
    let mut params: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    params.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(d) = dist {
        ddp::start_from_rank0(d, &params, &mut opt, &mut state, opts.bucket_bytes)?;
    }
    let resumed_from = state.step;
    let seed = state.seed;

    let cfg = stream_config(plan, seed, (rank, world), opts.workers);
    let shape = cfg.shape();
    let sampler = Sampler::new(&data.train, Some("train"), seed).map_err(anyhow::Error::msg)?;
    let mut frontend = None;
    let mut stream = if plan.augment.is_active() {
        let source = AugmentedSource::for_plan(plan, data, sampler, cfg, !opts.frontend_on_device)?;
        if opts.frontend_on_device {
            frontend = Some(source.frontend(opts.device));
        }
        Stream::from_source(
            Arc::new(source),
            opts.workers.max(1),
            2 * opts.workers.max(1),
            state.stream_position,
        )
    } else {
        Stream::open(sampler, cfg, state.stream_position)
    };
    tch::set_num_threads(opts.threads);
    let reader = ShardReader::new(16);
    let mut log = if leader {
        MetricsLog::open(run.id, run.dir, plan.log_mode, state.step)?
    } else {
        MetricsLog::off()
    };
    let decoding = Decoding {
        device: opts.device,
        batch: 64,
        bf16: plan.bf16,
        max_len: plan.model.event_length,
    };

    let bar = if opts.quiet || !leader {
        ProgressBar::with_draw_target(Some(plan.max_steps as u64), ProgressDrawTarget::hidden())
    } else {
        ProgressBar::new(plan.max_steps as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("train [{bar:30}] step {pos}/{len} {msg} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_position(state.step as u64);
    bar.reset_eta();

    let reduce = dist.map(|d| {
        move |t: &tch::Tensor| -> Result<(), String> {
            d.all_reduce_sum(t).map_err(|e| e.to_string())
        }
    });
    // Synchronised BatchNorm runs several backward passes a step: it all-reduces after them.
    let mut overlap = if opts.ddp_overlap && !(plan.sync_batchnorm && model.has_batchnorm()) {
        Overlap::Wanted
    } else {
        Overlap::Off
    };
    let mut ddp_buckets_overlapped = 0;
    let mut final_loss = f64::NAN;
    let mut last_flush = Instant::now();
    let mut stopped_early = false;
    let mut rate_since = (Instant::now(), state.step);
    while state.step < plan.max_steps {
        let stop_here = cancel.load(Ordering::Relaxed)
            || opts
                .stop_after
                .is_some_and(|n| state.step - resumed_from >= n);
        if stop_here && dist.is_none() {
            stopped_early = true;
            break;
        }
        let step = state.step;
        tch::manual_seed(step_seed(seed, step));
        let batch = stream.next_batch().map_err(anyhow::Error::msg)?;
        let lr = learning_rate(
            plan.schedule,
            plan.lr,
            step,
            plan.warmup_steps,
            plan.schedule_steps,
            plan.final_lr,
        );
        let spec = match (&batch.audio, &frontend) {
            (Some(audio), Some(fe)) => tch::no_grad(|| fe.forward(&audio.to_device(opts.device))),
            (Some(_), None) => anyhow::bail!("the stream gave audio and no front-end is set"),
            (None, _) => batch.spectrogram.to_device(opts.device),
        };
        let labels = model.labels(&batch.tokens).to_device(opts.device);
        // Ranks agree on stopping (any rank's Ctrl-C stops all at the same step) and on the
        // batch's target-token count, which weights each rank's loss.
        let shares = match dist {
            Some(d) => {
                let tokens = ddp::target_tokens(&labels);
                let v = d.sum_f64(&[tokens, f64::from(u8::from(stop_here))])?;
                if v[1] > 0.0 {
                    stopped_early = true;
                    break;
                }
                Some((d, tokens, v[0]))
            }
            None => None,
        };
        for (_, p) in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        // `-sb 1` over several ranks: BatchNorm statistics summed over the ranks.
        let sync = reduce
            .as_ref()
            .filter(|_| plan.sync_batchnorm && model.has_batchnorm())
            .map(|f| SyncBn::new(f));
        let out = amt_model::amp::bf16_autocast(plan.bf16, || {
            model.forward_synced(&spec, &labels, true, sync.as_ref())
        });
        let backward = |loss: &tch::Tensor| -> anyhow::Result<()> {
            match &sync {
                Some(s) => s.backward(loss).map_err(anyhow::Error::msg),
                None => {
                    loss.backward();
                    Ok(())
                }
            }
        };
        let mut loss = out.loss.double_value(&[]);
        match shares {
            Some((d, tokens, all_tokens)) => {
                // The first step (plain) shows the order the gradients arrive in; from the
                // second on, buckets in that order are all-reduced during the pass.
                let watch = match &overlap {
                    Overlap::Wanted => {
                        Some(GradOrderWatch::new(&params).map_err(anyhow::Error::msg)?)
                    }
                    _ => None,
                };
                // mean_r * (n_r * world / n): averaged over ranks, the gradient of the mean
                // over all n target tokens of the global batch.
                let weight = tokens * world as f64 / all_tokens.max(1.0);
                backward(&(&out.loss * weight))?;
                let synced = match &overlap {
                    Overlap::Hooked(o) => d.finish_grads(o)?,
                    _ => d.all_reduce_grads(&params, opts.bucket_bytes)?,
                };
                ddp_buckets_overlapped += synced.sent_during_backward;
                if let Some(w) = watch {
                    overlap = Overlap::Hooked(d.overlap_grads(&params, w, opts.bucket_bytes)?);
                }
                loss = d.sum_f64(&[loss * tokens])?[0] / all_tokens.max(1.0);
            }
            None => backward(&out.loss)?,
        }
        if !loss.is_finite() {
            anyhow::bail!(
                "the training loss became {loss} at step {step}; lower the learning rate (-lr) and resume (checkpoints keep the last good state)"
            );
        }
        let grad_norm = clip_grad_norm(&params, plan.clip_norm);
        opt.step(&params, lr);
        state.step += 1;
        state.stream_position = stream.position();
        state.lr = lr;
        final_loss = loss;
        log.log(state.step, "train/loss", loss)?;
        log.log(state.step, "train/lr", lr)?;
        log.log(state.step, "train/grad_norm", grad_norm)?;
        if state.step % 50 == 0 {
            let (t0, s0) = rate_since;
            let secs = t0.elapsed().as_secs_f64();
            if secs > 0.0 {
                log.log(
                    state.step,
                    "train/steps_per_second",
                    (state.step - s0) as f64 / secs,
                )?;
            }
            rate_since = (Instant::now(), state.step);
        }
        bar.set_position(state.step as u64);
        bar.set_message(format!("loss {loss:.3} lr {lr:.1e}"));

        let validate = state.step % plan.val_interval == 0 || state.step == plan.max_steps;
        if validate && data.validation.iter().any(|s| !s.tracks.is_empty()) {
            bar.set_message(format!("loss {loss:.3} validating"));
            let write_dir = plan.write_outputs.then(|| {
                run.dir
                    .join("validation")
                    .join(format!("step-{}", state.step))
            });
            let mine = score_tracks(
                &model,
                &data.validation,
                &reader,
                shape,
                decoding,
                write_dir.as_deref(),
                (rank, world),
            )?;
            let all = match dist {
                Some(d) => ddp::gather_scores(d, &mine)?,
                None => mine,
            };
            let values = super::infer::aggregate(&data.validation, &all);
            state.metrics.clear();
            for (k, v) in values {
                let key = format!("validation/{k}");
                log.log(state.step, &key, v)?;
                // NaN (a metric with nothing to score) is logged as NULL, not kept.
                if v.is_finite() {
                    state.metrics.insert(key, v);
                }
            }
            let onset = state.metrics.get(MONITOR).copied().unwrap_or(f64::NAN);
            if !leader {
                continue;
            }
            let line = format!(
                "step {}: loss {loss:.3}, validation loss {:.3}, macro onset F1 {onset:.3}",
                state.step,
                state
                    .metrics
                    .get("validation/loss")
                    .copied()
                    .unwrap_or(f64::NAN)
            );
            if opts.quiet {
                tracing::info!("{line}");
            } else if bar.is_hidden() {
                // Not a terminal (a log file): one line per validation instead of a bar.
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("{line}");
                }
            } else {
                bar.println(line);
            }
        }
        let save =
            state.step % opts.checkpoint_every == 0 || state.step == plan.max_steps || validate;
        if !leader {
            continue;
        }
        if save {
            state.metrics.insert(LAST_LOSS.into(), loss);
            log.flush()?;
            last_flush = Instant::now();
            last_ckpt = Some(save_checkpoint(run.dir, &vs, &opt, &state, opts.top_k)?);
        } else if last_flush.elapsed() > Duration::from_secs(60) {
            log.flush()?;
            last_flush = Instant::now();
        }
    }
    if final_loss.is_nan() {
        // Nothing trained in this process (a finished run): the loss its checkpoint recorded.
        final_loss = state.metrics.get(LAST_LOSS).copied().unwrap_or(f64::NAN);
    } else {
        state.metrics.insert(LAST_LOSS.into(), final_loss);
    }
    if !leader {
        // Rank 0 writes the checkpoint; the others report where they stopped.
        bar.finish_and_clear();
        return Ok(TrainOutcome {
            steps: state.step,
            final_loss,
            checkpoint: PathBuf::new(),
            resumed_from,
            train_seconds: started.elapsed().as_secs_f64(),
            metrics: state.metrics.clone(),
            stopped_early,
            ddp_buckets_overlapped,
        });
    }
    if stopped_early
        && last_ckpt
            .as_ref()
            .is_none_or(|d| !d.ends_with(format!("ckpt-{}", state.step)))
    {
        log.flush()?;
        last_ckpt = Some(save_checkpoint(run.dir, &vs, &opt, &state, opts.top_k)?);
    }
    log.flush()?;
    bar.finish_and_clear();
    let checkpoint = match last_ckpt {
        Some(c) => c,
        None => save_checkpoint(run.dir, &vs, &opt, &state, opts.top_k)?,
    };
    Ok(TrainOutcome {
        steps: state.step,
        final_loss,
        checkpoint,
        resumed_from,
        train_seconds: started.elapsed().as_secs_f64(),
        metrics: state.metrics.clone(),
        stopped_early,
        ddp_buckets_overlapped,
    })
}

/// Saves `ckpt-<step>` and removes checkpoints that are neither among the two newest nor the
/// `top_k` best by [`MONITOR`].
fn save_checkpoint(
    run_dir: &Path,
    vs: &nn::VarStore,
    opt: &Adam,
    state: &TrainState,
    top_k: usize,
) -> anyhow::Result<PathBuf> {
    let dir = checkpoints_dir(run_dir);
    let path = dir.join(format!("ckpt-{}", state.step));
    if path.exists() {
        // A resumed run re-reaching a step it saved before the kill: replace it.
        fs_err::remove_dir_all(&path)?;
    }
    checkpoint::save(&path, vs, opt, state).map_err(anyhow::Error::msg)?;
    let all = checkpoint::list(&dir);
    let mut ranked: Vec<(f64, i64)> = all
        .iter()
        .filter_map(|(step, d)| {
            let s = checkpoint::read_state_unchecked(d).ok()?;
            let v = *s.metrics.get(MONITOR)?;
            (!v.is_nan()).then_some((v, *step))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let keep: Vec<i64> = all
        .iter()
        .take(2)
        .map(|(s, _)| *s)
        .chain(ranked.iter().take(top_k).map(|(_, s)| *s))
        .collect();
    for (step, d) in &all {
        if !keep.contains(step) {
            let _ = fs_err::remove_dir_all(d);
        }
    }
    Ok(path)
}
