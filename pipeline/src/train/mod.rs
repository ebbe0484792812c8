//! `amt train`: YourMT3+ training as a run of the store.
//!
//! `amt train EXP_ID [flags]` resolves YourMT3's flags ([`flags`], [`resolve`]), builds the
//! data preset's datasets up to `shards` in the run's shards variant ([`data`]), pins what it
//! reads in `runs/<EXP_ID>/pins.json` (so `gc` keeps it; no store lock is held while training),
//! and trains ([`trainer`]), writing checkpoints, the `train_metrics` table and TensorBoard
//! files ([`log`]) under `runs/<EXP_ID>/`. The same EXP_ID resumes exactly where it stopped.

pub mod data;
pub mod flags;
pub mod infer;
pub mod log;
pub mod resolve;
pub mod trainer;

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use amt_cache::Run;
use serde_json::json;
use tch::Device;

use crate::cli::{EXIT_INTERRUPTED, TrainArgs, with_hint};
use crate::context::Context;
use resolve::TrainPlan;
use trainer::{TrainOptions, TrainOutcome};

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
        let fixed = [
            "model",
            "codec",
            "hop_length",
            "n_mels",
            "task",
            "data",
            "batch_size",
        ];
        let pick = |v: &serde_json::Value| -> serde_json::Value {
            json!(
                fixed
                    .iter()
                    .map(|k| (k.to_string(), v.get(*k).cloned().unwrap_or_default()))
                    .collect::<serde_json::Map<_, _>>()
            )
        };
        let changes = crate::config::diff(&pick(&before), &pick(&now));
        if !changes.is_empty() {
            return Err(with_hint(
                anyhow::anyhow!(
                    "run `{}` was started with other settings: {}",
                    run.id,
                    changes.join("; ")
                ),
                "resume with the flags it started with, or train under a new EXP_ID",
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
    let datasets = data::build(ctx, plan, opts.quiet)?;
    let store = ctx.open_store()?;
    let run = store.open_run(exp_id, false).map_err(|e| {
        with_hint(
            e,
            "another `amt train` works on this run; wait for it or use another EXP_ID",
        )
    })?;
    check_same_plan(&run, plan)?;
    let data = data::load(&store, plan, &datasets, val_max_files)?;
    if let Some(before) = run.pins()? {
        for change in Run::changes(&before, &data.pins) {
            tracing::warn!("run `{exp_id}`: its data changed since it started: {change}");
        }
    }
    run.set_pins(&data.pins)?;
    let outcome = trainer::train(&run, plan, &data, opts, &ctx.cancel)?;
    Ok((outcome, data, run.dir.clone()))
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
pub fn train(ctx: &Context, args: &TrainArgs) -> anyhow::Result<ExitCode> {
    let plan = resolve::resolve(&args.model, &args.train, args.warmup_steps)
        .map_err(anyhow::Error::msg)?;
    let opts = TrainOptions {
        seed: args.seed,
        checkpoint_every: args.checkpoint_every.unwrap_or(plan.val_interval).max(1),
        top_k: args.save_top_k,
        device: parse_device(args.device.as_deref())?,
        threads: args.threads.unwrap_or_else(tch::get_num_threads),
        workers: args.workers,
        quiet: ctx.quiet || args.json,
        stop_after: args.stop_after,
    };
    let (outcome, _, run_dir) = train_run(ctx, &args.exp_id, &plan, &opts, args.val_max_num_files)?;
    let summary = json!({
        "exp_id": args.exp_id,
        "run_dir": run_dir,
        "steps": outcome.steps,
        "resumed_from": outcome.resumed_from,
        "world_size": 1,
        "final_loss": outcome.final_loss,
        "checkpoint": outcome.checkpoint,
        "train_seconds": outcome.train_seconds,
        "metrics": outcome.metrics,
        "stopped_early": outcome.stopped_early,
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
