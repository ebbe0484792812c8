//! `amt train`: YourMT3+ training as a run of the store.
//!
//! `amt train EXP_ID [flags]` resolves YourMT3's flags ([`flags`], [`resolve`]), builds the
//! data preset's datasets up to `shards` in the run's shards variant ([`data`]), pins what it
//! reads in `runs/<EXP_ID>/pins.json` (so `gc` keeps it; no store lock is held while training),
//! and trains ([`trainer`]), writing checkpoints, the `train_metrics` table and TensorBoard
//! files ([`log`]) under `runs/<EXP_ID>/`. The same EXP_ID resumes exactly where it stopped.
//!
//! Data parallel ([`ddp`], `amt launch`, torchrun): with `WORLD_SIZE` > 1 in the environment,
//! rank 0 does all of the above and publishes "ready" in the job's store; the other ranks then
//! read the run's pinned artifacts (no store lock, no writes) and train their share.

pub mod augment;
pub mod augmented;
pub mod data;
pub mod ddp;
pub mod dump;
pub mod flags;
pub mod infer;
pub mod log;
pub mod resolve;
pub mod trainer;

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use amt_cache::Run;
use amt_dist::{Dist, Launch};
use serde_json::json;
use tch::Device;

use crate::cli::{EXIT_INTERRUPTED, TrainArgs, with_hint};
use crate::context::Context;
use resolve::TrainPlan;
use trainer::{RunRef, TrainOptions, TrainOutcome};

/// Store key rank 0 sets once the run's data is built and pinned.
const READY_KEY: &str = "amt/data-ready";

/// `plan.json` in the run folder: the plan the run started with.
const PLAN_FILE: &str = "plan.json";

/// Parses `--device` (`cpu`, `cuda`, `cuda:N`); default: the first GPU when there is one.
pub fn parse_device(s: Option<&str>) -> anyhow::Result<Device> {
    match s {
        None => Ok(Device::cuda_if_available()),
        Some("cpu") => Ok(Device::Cpu),
        Some("cuda") => cuda(0),
        Some(other) => match other.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => cuda(n),
            None => anyhow::bail!("--device {other}: expected cpu, cuda or cuda:N"),
        },
    }
}

fn cuda(n: usize) -> anyhow::Result<Device> {
    if (n as i64) < tch::Cuda::device_count() {
        Ok(Device::Cuda(n))
    } else {
        Err(with_hint(
            anyhow::anyhow!(
                "--device cuda:{n}: this machine has {} CUDA device(s)",
                tch::Cuda::device_count()
            ),
            "`amt doctor` shows what libtorch sees; use --device cpu to train on the CPU",
        ))
    }
}

/// Checks that a resumed run keeps what its checkpoints depend on.
fn check_same_plan(run: &Run, plan: &TrainPlan) -> anyhow::Result<()> {
    let now = serde_json::to_value(plan)?;
    if let Some(bytes) = run.read_state(PLAN_FILE)? {
        let before: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!("`{}` is damaged: {e}", run.dir.join(PLAN_FILE).display())
        })?;
        // The model, its input and the data must match; steps, intervals, logging may change.
        // The global batch, not the per-rank one: any world size that divides it resumes.
        let mut fixed = vec![
            "model",
            "codec",
            "hop_length",
            "n_mels",
            "task",
            "data",
            "global_batch",
        ];
        // Split lists and evaluation of each member (plans from before presets lack them).
        if before.get("members").is_some() {
            fixed.push("members");
        }
        let pick = |v: &serde_json::Value| -> serde_json::Value {
            json!(
                fixed
                    .iter()
                    .map(|k| {
                        let value = match (*k, v.get(*k)) {
                            // Plans written before data parallelism: one rank.
                            ("global_batch", None) => v.get("batch_size").cloned(),
                            (_, x) => x.cloned(),
                        };
                        (k.to_string(), value.unwrap_or_default())
                    })
                    .collect::<serde_json::Map<_, _>>()
            )
        };
        // Augmentation may change between sessions (a curriculum), but the batches then
        // differ from a straight run's: say so.
        if before
            .get("augment")
            .is_some_and(|b| Some(b) != now.get("augment"))
        {
            tracing::warn!(
                "run `{}`: its augmentation flags changed since it started; it continues with the new ones",
                run.id
            );
        }
        let changes = crate::config::diff(&pick(&before), &pick(&now));
        if !changes.is_empty() {
            return Err(with_hint(
                anyhow::anyhow!(
                    "run `{}` was started with other settings: {}",
                    run.id,
                    changes.join("; ")
                ),
                "resume with the flags it started with (with W ranks, -bsz is the global batch / W), or train under a new EXP_ID",
            ));
        }
    }
    run.write_state(PLAN_FILE, &serde_json::to_vec_pretty(&now)?)?;
    Ok(())
}

/// Builds the data, opens the run, trains: what `amt train` and `amt demo` share.
pub fn train_run(
    ctx: &Context,
    exp_id: &str,
    plan: &TrainPlan,
    opts: &TrainOptions,
    val_max_files: usize,
) -> anyhow::Result<(TrainOutcome, data::RunData, std::path::PathBuf)> {
    train_ranked(ctx, exp_id, plan, opts, val_max_files, None)
}

/// [`train_run`] as one rank of a data-parallel job (`dist`), or alone (`None`).
fn train_ranked(
    ctx: &Context,
    exp_id: &str,
    plan: &TrainPlan,
    opts: &TrainOptions,
    val_max_files: usize,
    dist: Option<&Dist>,
) -> anyhow::Result<(TrainOutcome, data::RunData, std::path::PathBuf)> {
    if let Some(d) = dist.filter(|d| d.rank > 0) {
        // Rank 0 builds, checks the plan and pins; this rank reads what it pinned.
        d.wait_for(READY_KEY)?;
        let store = ctx.open_store()?;
        let pins = store
            .run_pins(exp_id)?
            .ok_or_else(|| anyhow::anyhow!("rank {}: run `{exp_id}` has no pins.json", d.rank))?;
        let data = data::load_pinned(&store, plan, &pins, val_max_files)?;
        let dir = store.run_dir(exp_id);
        let run = RunRef {
            id: exp_id,
            dir: &dir,
        };
        let outcome = trainer::train(run, plan, &data, opts, &ctx.cancel, dist)?;
        return Ok((outcome, data, dir));
    }
    let datasets = data::build(ctx, plan, opts.quiet)?;
    let store = ctx.open_store()?;
    let run = store.open_run(exp_id, false).map_err(|e| {
        with_hint(
            e,
            "another `amt train` works on this run; wait for it or use another EXP_ID",
        )
    })?;
    check_same_plan(&run, plan)?;
    let mut data = data::load(
        &store,
        plan,
        &datasets,
        val_max_files,
        plan.augment.is_active(),
    )?;
    data::publish_preset(&store, plan, &mut data)?;
    if let Some(before) = run.pins()? {
        let changes = Run::changes(&before, &data.pins);
        if !changes.is_empty() && !opts.repin {
            return Err(with_hint(
                anyhow::anyhow!(
                    "run `{exp_id}`: its data changed since it was pinned: {}",
                    changes.join("; ")
                ),
                "`--repin` resumes it on the current data (the run then pins those), or train \
                 under a new EXP_ID",
            ));
        }
        for change in changes {
            tracing::warn!("run `{exp_id}`: re-pinned: {change}");
        }
    }
    run.set_pins(&data.pins)?;
    if let Some(d) = dist {
        d.publish(READY_KEY, b"1")?;
    }
    let run_ref = RunRef {
        id: &run.id,
        dir: &run.dir,
    };
    let outcome = trainer::train(run_ref, plan, &data, opts, &ctx.cancel, dist)?;
    Ok((outcome, data, run.dir.clone()))
}

/// The data-parallel job this process belongs to (from torchrun's variables), joined.
fn join_job() -> anyhow::Result<Option<Dist>> {
    let launch = Launch::from_env().map_err(|e| {
        with_hint(
            anyhow::anyhow!("{e}"),
            "`amt launch --nproc N -- train ...` sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT",
        )
    })?;
    match launch {
        Some(l) if l.world > 1 => {
            let timeout = Dist::timeout_from_env().map_err(anyhow::Error::msg)?;
            Ok(Some(Dist::init(&l, timeout)?))
        }
        _ => Ok(None),
    }
}

pub fn train(ctx: &Context, args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let dist = join_job()?;
    let result = train_in_job(ctx, args, dist.as_ref());
    if let (Err(e), Some(d)) = (&result, &dist) {
        // Tell the other ranks why, so that they stop naming this rank's error.
        d.announce_failure(&format!("{e:#}"));
    }
    result
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn train_in_job(ctx: &Context, args: &TrainArgs, dist: Option<&Dist>) -> anyhow::Result<ExitCode> {
    let world = dist.map_or(1, |d| d.world);
    let plan = resolve::resolve_for(&args.model, &args.train, args.warmup_steps, Some(world))
        .map_err(anyhow::Error::msg)?;
    let device = match (args.device.as_deref(), dist) {
        // One GPU per local rank, as torchrun's LOCAL_RANK means.
        (None, Some(d)) if tch::Cuda::is_available() => {
            parse_device(Some(&format!("cuda:{}", d.local_rank)))?
        }
        (dev, _) => parse_device(dev)?,
    };
    if let (Some(n), Some(dir)) = (args.dry_run_batches, &args.dump) {
        if dist.is_some() {
            anyhow::bail!("--dry-run-batches runs in one process; start it without `amt launch`");
        }
        let index = dump::dry_run(ctx, &plan, args.seed, n, dir, ctx.quiet || args.json)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&index)?);
        } else if !ctx.quiet {
            eprintln!(
                "wrote {n} segment(s) to {} (index.json lists them)",
                dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let leader = dist.is_none_or(|d| d.rank == 0);
    let opts = TrainOptions {
        seed: args.seed,
        checkpoint_every: args.checkpoint_every.unwrap_or(plan.val_interval).max(1),
        top_k: args.save_top_k,
        device,
        threads: args.threads.unwrap_or_else(tch::get_num_threads),
        workers: args.workers,
        quiet: ctx.quiet || args.json || !leader,
        stop_after: args.stop_after,
        bucket_bytes: (args.bucket_mb * (1 << 20) as f64).max(1.0) as usize,
        ddp_overlap: overlap_on(&args.ddp_overlap, device),
        repin: args.repin,
        frontend_on_device: match args.frontend_on.as_str() {
            "auto" => device.is_cuda(),
            "device" => true,
            "stream" => false,
            other => anyhow::bail!("--frontend-on {other}: expected auto, stream or device"),
        },
    };
    let (outcome, _, run_dir) = train_ranked(
        ctx,
        &args.exp_id,
        &plan,
        &opts,
        args.val_max_num_files
            .or(plan.preset_val_max_files)
            .unwrap_or(20),
        dist,
    )?;
    if !leader {
        // Rank 0 reports; the others only stop as it does.
        return Ok(if ctx.cancel.load(Ordering::Relaxed) {
            ExitCode::from(EXIT_INTERRUPTED)
        } else {
            ExitCode::SUCCESS
        });
    }
    let summary = json!({
        "exp_id": args.exp_id,
        "run_dir": run_dir,
        "steps": outcome.steps,
        "resumed_from": outcome.resumed_from,
        "world_size": world,
        "global_batch": plan.global_batch,
        "final_loss": outcome.final_loss,
        "checkpoint": outcome.checkpoint,
        "train_seconds": outcome.train_seconds,
        "metrics": outcome.metrics,
        "stopped_early": outcome.stopped_early,
        "ddp_buckets_overlapped": outcome.ddp_buckets_overlapped,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !ctx.quiet {
        eprintln!(
            "trained `{}` to step {} (loss {:.4}); checkpoint {}",
            args.exp_id,
            outcome.steps,
            outcome.final_loss,
            outcome.checkpoint.display()
        );
    }
    if ctx.cancel.load(Ordering::Relaxed) {
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--ddp-overlap`: `1`, `0`, or `auto` (on for CUDA: on the CPU the collectives' threads
/// take the cores the backward pass uses, and steps got slower in `docs/PERFORMANCE.md`).
pub fn overlap_on(flag: &str, device: tch::Device) -> bool {
    match flag {
        "1" => true,
        "0" => false,
        _ => device.is_cuda(),
    }
}
