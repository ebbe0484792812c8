//! The runner: plans each dataset, then builds what is not fresh, in graph order; datasets run
//! in parallel. A failing dataset skips its own downstream stages and never stops the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use amt_cache::Store;
use amt_stages::{DatasetSpec, Job, Progress, Stage};
use rayon::prelude::*;
use serde::Serialize;

use crate::config::Config;
use crate::graph::Graph;
use crate::plan::{self, PlanEntry, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Already fresh: nothing done.
    Fresh,
    /// An existing artifact matched the key; only the ref moved.
    Cached,
    /// The stage ran and published.
    Ran,
    Failed,
    /// Not attempted because an upstream stage of the same dataset failed.
    Skipped,
    Interrupted,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportEntry {
    pub stage: String,
    pub dataset: String,
    /// Where it is published (the dataset, or `dataset@variant`).
    #[serde(skip)]
    pub slot: amt_cache::Slot,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub seconds: f64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub entries: Vec<ReportEntry>,
}

impl RunReport {
    pub fn failed(&self) -> bool {
        self.entries.iter().any(|e| e.outcome == Outcome::Failed)
    }
    pub fn interrupted(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.outcome == Outcome::Interrupted)
    }
    pub fn count(&self, o: Outcome) -> usize {
        self.entries.iter().filter(|e| e.outcome == o).count()
    }
}

/// Shows progress and outcomes; the CLI implements it with indicatif, tests with nothing.
pub trait Reporter: Sync {
    fn progress(&self, stage: &str, dataset: &str) -> Box<dyn Progress + '_>;
    fn finished(&self, entry: &ReportEntry);
}

pub struct SilentReporter;

impl Reporter for SilentReporter {
    fn progress(&self, _: &str, _: &str) -> Box<dyn Progress + '_> {
        Box::new(amt_stages::NoProgress)
    }
    fn finished(&self, _: &ReportEntry) {}
}

/// What `--force` rebuilds even when fresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Force {
    No,
    All,
    Stage(String),
}

impl Force {
    fn applies_to(&self, stage: &str) -> bool {
        match self {
            Force::No => false,
            Force::All => true,
            Force::Stage(s) => s == stage,
        }
    }
}

pub struct RunRequest<'a> {
    pub graph: &'a Graph,
    pub config: &'a Config,
    pub store: &'a Store,
    pub datasets: &'a [DatasetSpec],
    /// Per dataset, the stages to consider, in graph order.
    pub stages_for: &'a (dyn Fn(&DatasetSpec) -> Vec<Arc<dyn Stage>> + Sync),
    pub force: Force,
    /// Fail at once when another process writes a (stage, slot) this run needs.
    pub no_wait: bool,
    pub cancel: &'a AtomicBool,
}

pub fn run(req: &RunRequest<'_>, reporter: &dyn Reporter) -> RunReport {
    let per_dataset: Vec<Vec<ReportEntry>> = req
        .datasets
        .par_iter()
        .map(|ds| run_dataset(req, ds, reporter))
        .collect();
    RunReport {
        entries: per_dataset.into_iter().flatten().collect(),
    }
}

fn run_dataset(
    req: &RunRequest<'_>,
    ds: &DatasetSpec,
    reporter: &dyn Reporter,
) -> Vec<ReportEntry> {
    let stages = plan::applicable(req.graph, &(req.stages_for)(ds), req.config, ds);
    let plan = plan::plan_dataset(req.graph, &stages, req.config, req.store, ds, req.cancel);
    let mut out = Vec::new();
    let mut broken = false;
    for (stage, entry) in stages.iter().zip(plan) {
        let started = Instant::now();
        let mut report = ReportEntry {
            stage: entry.stage.clone(),
            dataset: ds.name.clone(),
            slot: entry.slot.clone(),
            outcome: Outcome::Failed,
            key: entry.key.as_ref().map(|k| k.to_string()),
            seconds: 0.0,
            why: entry.why.clone(),
            error: None,
        };
        if req.cancel.load(Ordering::Relaxed) {
            report.outcome = Outcome::Interrupted;
        } else if broken {
            report.outcome = Outcome::Skipped;
            report.error = Some("an upstream stage of this dataset failed".into());
        } else {
            match execute(req, stage.as_ref(), ds, &entry, reporter) {
                Ok(o) => report.outcome = o,
                Err(amt_stages::Error::Interrupted) => report.outcome = Outcome::Interrupted,
                Err(e) => {
                    report.outcome = Outcome::Failed;
                    report.error = Some(render_chain(&e));
                }
            }
        }
        if matches!(report.outcome, Outcome::Failed | Outcome::Interrupted) {
            broken = true;
        }
        report.seconds = started.elapsed().as_secs_f64();
        reporter.finished(&report);
        out.push(report);
    }
    out
}

fn execute(
    req: &RunRequest<'_>,
    stage: &dyn Stage,
    ds: &DatasetSpec,
    entry: &PlanEntry,
    reporter: &dyn Reporter,
) -> amt_stages::Result<Outcome> {
    let (Some(key), Some(spec)) = (&entry.key, &entry.spec) else {
        return Err(amt_stages::Error::Plan {
            stage: entry.stage.clone(),
            reason: entry.why.join("; "),
        });
    };
    let store = req.store;
    let forced = req.force.applies_to(&entry.stage);
    let slot = &entry.slot;
    if !forced && entry.state == State::Fresh {
        return Ok(Outcome::Fresh);
    }
    // Only writers of this (stage, slot) are excluded; readers never wait.
    let _lock = store.lock_slot(&entry.stage, slot, !req.no_wait)?;
    // Another process may have built it while this one planned or waited. A damaged ref is
    // replaced, a damaged artifact of this key evicted and rebuilt.
    let current = store.read_ref(&entry.stage, slot).unwrap_or(None);
    let built = match store.get(&entry.stage, slot, key) {
        Ok(a) => a.is_some(),
        Err(e) => {
            tracing::warn!("{e}; rebuilding it");
            store.evict_artifact(&entry.stage, slot, key)?;
            false
        }
    };
    if !forced && built {
        if current.as_ref() == Some(key) {
            return Ok(Outcome::Fresh);
        }
        store.write_ref(&entry.stage, slot, key)?;
        return Ok(Outcome::Cached);
    }
    // The slot's previous artifact: track-grained stages reuse its unchanged parts.
    let previous = match &current {
        Some(k) if k != key => store.get(&entry.stage, slot, k).ok().flatten(),
        _ => None,
    };
    // Hand over exactly the upstream artifacts the key was derived from (not whatever the
    // refs say now).
    let mut upstream = std::collections::BTreeMap::new();
    for up in stage.upstream(ds) {
        let found = spec
            .inputs
            .iter()
            .find(|(name, _)| {
                name.strip_prefix("stage:")
                    .and_then(|n| n.split('@').next())
                    == Some(up.as_str())
            })
            .map(|(name, k)| (name.clone(), k.clone()));
        let artifact = match found {
            Some((name, k)) => {
                let up_slot = match name.split_once('@') {
                    Some((_, s)) => amt_cache::Slot::parse(s)?,
                    None => amt_cache::Slot::dataset(&ds.name),
                };
                store.get(&up, &up_slot, &amt_cache::Key::try_from(k)?)?
            }
            None => None,
        };
        let artifact = artifact.ok_or_else(|| amt_stages::Error::Config {
            stage: entry.stage.clone(),
            reason: format!("upstream `{up}` has no artifact for `{}`", ds.name),
        })?;
        upstream.insert(up, artifact);
    }
    let out = store.begin(&entry.stage, slot, key)?;
    let progress = reporter.progress(&entry.stage, &ds.name);
    let mut job = Job {
        stage: &entry.stage,
        dataset: ds,
        slot,
        key,
        config: &spec.config,
        store,
        upstream,
        previous,
        external: &entry.external,
        out: &out,
        progress: progress.as_ref(),
        cancel: req.cancel,
    };
    stage.run(&mut job)?;
    if req.cancel.load(Ordering::Relaxed) {
        return Err(amt_stages::Error::Interrupted);
    }
    out.commit(
        stage.version(),
        spec.inputs.clone(),
        spec.config.clone(),
        forced,
    )?;
    store.write_ref(&entry.stage, slot, key)?;
    // Finished parts were linked into the artifact: the build's part area is done.
    store.discard_parts(&entry.stage, slot, key)?;
    Ok(Outcome::Ran)
}

/// `error: caused by: ...` chain on one line for reports.
pub fn render_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let msg = c.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = c.source();
    }
    s
}
