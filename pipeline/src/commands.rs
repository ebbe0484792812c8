//! One function per `amt` command. Data goes to stdout, progress and logs to stderr.
#![allow(clippy::print_stdout)]

mod bench;
mod cache;
mod convert;
mod doctor;
mod eval;
pub(crate) mod features;
mod inspect;
mod install;
mod launch;
mod model;
mod presets;
mod tokenize;
mod transcribe;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use amt_stages::DatasetSpec;

pub use bench::bench;
pub use cache::cache;
pub use convert::convert;
pub use doctor::doctor;
pub use eval::eval;
pub use features::features;
pub use inspect::{sql, tables};
pub use install::install;
pub use launch::launch;
pub use model::model;
pub use presets::presets;
pub use tokenize::tokenize;
pub use transcribe::{Transcriber, checkpoint_of_run, transcribe};

use crate::cli::{DemoArgs, EXIT_INTERRUPTED, RunArgs, StageArgs, StatusArgs, with_hint};
use crate::context::Context;
use crate::datasets::{self, DatasetError};
use crate::plan::{self, State};
use crate::progress::TerminalReporter;
use crate::runner::{Force, Outcome, RunReport, RunRequest};

pub(crate) fn resolve_datasets(
    ctx: &Context,
    requested: &[String],
) -> anyhow::Result<Vec<DatasetSpec>> {
    let store = ctx.open_store()?;
    datasets::resolve(requested, &ctx.data_home, &ctx.config, &store).map_err(|e| match e {
        DatasetError::NoneKnown => with_hint(
            e,
            "add one: `amt install --datasets NAME` downloads a YourMT3 dataset (`amt install \
             --list` shows them), `amt run --datasets PATH` uses a folder you have, and \
             `amt demo` builds the built-in example",
        ),
        other => other.into(),
    })
}

pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<ExitCode> {
    let stages = ctx.graph.until(args.until.as_deref())?;
    let datasets = resolve_datasets(ctx, &args.datasets.datasets)?;
    let all = stages.clone();
    let force = if args.force { Force::All } else { Force::No };
    execute(
        ctx,
        &datasets,
        &move |_| all.clone(),
        force,
        args.json,
        args.no_wait,
    )
}

pub fn stage(ctx: &Context, args: &StageArgs) -> anyhow::Result<ExitCode> {
    let target = ctx.graph.get(&args.name)?.clone();
    let datasets = resolve_datasets(ctx, &args.datasets.datasets)?;
    for ds in &datasets {
        let cfg = ctx.config.resolve(&ctx.graph, &args.name, &ds.name);
        if let Some(why) = target.skip_reason(ds, &cfg) {
            return Err(with_hint(
                anyhow::anyhow!(
                    "stage `{}` does not apply to dataset `{}`",
                    args.name,
                    ds.name
                ),
                why,
            ));
        }
    }
    let graph = ctx.graph.clone();
    let name = args.name.clone();
    // Its inputs are built when stale; `--force` applies to the named stage only.
    let stages_for = move |ds: &DatasetSpec| graph.with_ancestors(&name, ds).unwrap_or_default();
    let force = if args.force {
        Force::Stage(args.name.clone())
    } else {
        Force::No
    };
    execute(ctx, &datasets, &stages_for, force, args.json, args.no_wait)
}

/// Builds `datasets` through their stages (fetching registry datasets first), with progress
/// bars unless `quiet`; the report says what ran and what failed.
pub(crate) fn build(
    ctx: &Context,
    datasets: &[DatasetSpec],
    stages_for: &StagesFor<'_>,
    force: Force,
    quiet: bool,
    no_wait: bool,
) -> anyhow::Result<RunReport> {
    let store = ctx.open_store()?;
    let cleaned = store.clean_tmp()?;
    if cleaned.removed > 0 {
        tracing::info!(
            "removed {} leftover(s) of an interrupted run",
            cleaned.removed
        );
    }
    for f in &cleaned.foreign {
        tracing::warn!(
            "`{}` in the store's tmp/ was not made by amt; left alone (remove it by hand)",
            f.display()
        );
    }
    let req = RunRequest {
        graph: &ctx.graph,
        config: &ctx.config,
        store: &store,
        datasets,
        stages_for,
        force,
        no_wait,
        cancel: &ctx.cancel,
    };
    let reporter = TerminalReporter::new(quiet);
    // Registry datasets not on disk yet are fetched and extracted first (install.rs).
    Ok(install::run_fetching_first(&req, &reporter))
}

pub(crate) type StagesFor<'a> = dyn Fn(&DatasetSpec) -> Vec<Arc<dyn amt_stages::Stage>> + Sync + 'a;

fn execute(
    ctx: &Context,
    datasets: &[DatasetSpec],
    stages_for: &StagesFor<'_>,
    force: Force,
    json: bool,
    no_wait: bool,
) -> anyhow::Result<ExitCode> {
    let forced = force != Force::No;
    let report = build(ctx, datasets, stages_for, force, ctx.quiet || json, no_wait)?;
    let stdout = if json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        String::new()
    };
    let stderr = if json || ctx.quiet {
        String::new()
    } else {
        summary(&report)
    };
    print!("{stdout}");
    #[allow(clippy::print_stderr)]
    {
        eprint!("{stderr}");
    }
    let code = exit_code(&report);
    if !forced {
        // The outcome lines were printed as stages finished; a replay prints them first.
        let outcomes: String = if json || ctx.quiet {
            String::new()
        } else {
            report
                .entries
                .iter()
                .map(|e| crate::progress::outcome_line(e) + "\n")
                .collect()
        };
        crate::noop::record_if_noop(ctx, &report, stdout, outcomes + &stderr);
    }
    Ok(code)
}

/// What a run prints after its outcome lines.
fn summary(report: &RunReport) -> String {
    let ran = report.count(Outcome::Ran);
    let reused = report.count(Outcome::Fresh) + report.count(Outcome::Cached);
    let failed = report.count(Outcome::Failed);
    let next = if report.interrupted() {
        "interrupted: nothing partial was published; run the same command to continue"
    } else if failed > 0 {
        "hint: fix the errors above and run again; finished work is kept"
    } else {
        "next: `amt tables` to see what was built, `amt sql \"...\"` to query it"
    };
    format!("{ran} built, {reused} up to date, {failed} failed\n{next}\n")
}

fn exit_code(report: &RunReport) -> ExitCode {
    if report.interrupted() {
        ExitCode::from(EXIT_INTERRUPTED)
    } else if report.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

pub fn status(ctx: &Context, args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let datasets = resolve_datasets(ctx, &args.datasets.datasets)?;
    let store = ctx.open_store()?;
    let cancel = AtomicBool::new(false);
    let stages = ctx.graph.stages();
    let mut entries = Vec::new();
    for ds in &datasets {
        entries.extend(plan::plan_dataset(
            &ctx.graph,
            &plan::applicable(&ctx.graph, stages, &ctx.config, ds),
            &ctx.config,
            &store,
            ds,
            &cancel,
        ));
    }
    let all_fresh = entries.iter().all(|e| e.state == State::Fresh);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if !ctx.quiet {
        if all_fresh {
            println!("Data and pipelines are up to date.");
        }
        let mut by_stage: BTreeMap<usize, Vec<&plan::PlanEntry>> = BTreeMap::new();
        for e in &entries {
            let pos = stages.iter().position(|s| s.name() == e.stage).unwrap_or(0);
            by_stage.entry(pos).or_default().push(e);
        }
        let width = entries
            .iter()
            .map(|e| e.slot.to_string().len())
            .max()
            .unwrap_or(0);
        for (pos, es) in by_stage {
            println!("{}", stages[pos].name());
            for e in es {
                let state = format!("{:?}", e.state).to_lowercase();
                let key = e
                    .key
                    .as_ref()
                    .map(|k| k.short().to_string())
                    .unwrap_or_default();
                println!("  {:width$}  {state:8} {key}", e.slot.to_string());
                for why in &e.why {
                    println!("  {:width$}    {why}", "");
                }
            }
        }
        let stale = entries.iter().filter(|e| e.state != State::Fresh).count();
        if stale > 0 {
            println!(
                "hint: run `amt run` to build the {stale} stage x dataset pair(s) that are not fresh"
            );
        }
    }
    Ok(if all_fresh {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn config_show(ctx: &Context) -> anyhow::Result<ExitCode> {
    let mut root = toml::Table::new();
    if let Some(p) = &ctx.config.path {
        println!("# from {}", p.display());
    } else {
        println!("# defaults (no configuration file)");
    }
    let mut stages = toml::Table::new();
    for s in ctx.graph.stages() {
        let v = ctx.config.resolve(&ctx.graph, s.name(), "");
        stages.insert(s.name().to_string(), toml::Value::try_from(&v)?);
    }
    root.insert("stage".into(), toml::Value::Table(stages));
    let mut datasets = toml::Table::new();
    for (name, d) in &ctx.config.file.dataset {
        let mut t = toml::Table::new();
        if let Some(f) = &d.folder {
            t.insert(
                "folder".into(),
                toml::Value::String(f.display().to_string()),
            );
        }
        let mut st = toml::Table::new();
        for stage in d.stage.keys() {
            let v = ctx.config.resolve(&ctx.graph, stage, name);
            st.insert(stage.clone(), toml::Value::try_from(&v)?);
        }
        if !st.is_empty() {
            t.insert("stage".into(), toml::Value::Table(st));
        }
        datasets.insert(name.clone(), toml::Value::Table(t));
    }
    if !datasets.is_empty() {
        root.insert("dataset".into(), toml::Value::Table(datasets));
    }
    print!("{}", toml::to_string_pretty(&root)?);
    Ok(ExitCode::SUCCESS)
}

pub fn demo(args: &DemoArgs, quiet: bool, cancel: Arc<AtomicBool>) -> anyhow::Result<ExitCode> {
    if args.tour {
        crate::demo::run(&args.dir, quiet, cancel)
    } else {
        crate::demo::train_demo(args, quiet, cancel)
    }
}
