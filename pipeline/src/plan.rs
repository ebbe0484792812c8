//! Planning: derive every (stage, dataset) key top-down without running anything, and compare
//! it with what the store holds. Keys depend on input keys, not on outputs, so a whole graph's
//! keys are known as soon as the external inputs are fingerprinted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use amt_cache::{Key, KeySpec, Slot, Store};
use amt_stages::{DatasetSpec, PlanContext, Stage};
use serde::Serialize;

use crate::config::{self, Config};
use crate::graph::Graph;

/// Where a (stage, dataset) pair stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// The ref points at the artifact the current inputs and config give.
    Fresh,
    /// That artifact exists (an earlier run made it) but the ref points elsewhere.
    Cached,
    /// The ref points at an artifact made from other inputs or config.
    Stale,
    /// Never built.
    Missing,
    /// Its ref or the manifest it names cannot be read; `amt run` rebuilds it.
    Damaged,
    /// Its inputs cannot be read (a missing folder, a bad config section).
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanEntry {
    pub stage: String,
    pub dataset: String,
    /// Where it is published: the dataset, or `dataset@variant`.
    pub slot: Slot,
    pub state: State,
    /// Why it is not fresh: one line per cause.
    pub why: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Key>,
    #[serde(skip)]
    pub spec: Option<KeySpec>,
    #[serde(skip)]
    pub external: BTreeMap<String, String>,
}

/// The stages of `stages` that apply to `dataset` (see `Stage::skip_reason`), in order.
pub fn applicable(
    graph: &Graph,
    stages: &[Arc<dyn Stage>],
    config: &Config,
    dataset: &DatasetSpec,
) -> Vec<Arc<dyn Stage>> {
    stages
        .iter()
        .filter(|s| {
            let cfg = config.resolve(graph, s.name(), &dataset.name);
            s.skip_reason(dataset, &cfg).is_none()
        })
        .cloned()
        .collect()
}

/// The name under which an upstream stage's key enters a key's inputs: `stage:<name>` for the
/// dataset's own slot, `stage:<name>@<slot>` for any other slot.
pub fn upstream_input(stage: &str, slot: &Slot, dataset: &str) -> String {
    match slot {
        Slot::Dataset(d) if d == dataset => format!("stage:{stage}"),
        other => format!("stage:{stage}@{other}"),
    }
}

/// Plans `stages` (in graph order) for one dataset.
pub fn plan_dataset(
    graph: &Graph,
    stages: &[Arc<dyn Stage>],
    config: &Config,
    store: &Store,
    dataset: &DatasetSpec,
    cancel: &AtomicBool,
) -> Vec<PlanEntry> {
    let mut out: Vec<PlanEntry> = Vec::with_capacity(stages.len());
    for stage in stages {
        let name = stage.name().to_string();
        let cfg = config.resolve(graph, &name, &dataset.name);
        let slot = match stage.variant(&cfg) {
            Some(v) => Slot::variant(&dataset.name, v),
            None => Slot::dataset(&dataset.name),
        };
        let mut entry = PlanEntry {
            stage: name.clone(),
            dataset: dataset.name.clone(),
            slot,
            state: State::Error,
            why: Vec::new(),
            key: None,
            spec: None,
            external: BTreeMap::new(),
        };
        if let Err(e) = stage.check_config(&cfg) {
            entry.why.push(e.to_string());
            out.push(entry);
            continue;
        }
        let mut inputs = BTreeMap::new();
        let mut upstream_problem = None;
        for up in stage.upstream(dataset) {
            match out.iter().find(|e| e.stage == up) {
                Some(e) if e.key.is_some() => {
                    let k = e.key.as_ref().expect("checked");
                    inputs.insert(upstream_input(&up, &e.slot, &dataset.name), k.to_string());
                }
                _ => upstream_problem = Some(up),
            }
        }
        if let Some(up) = upstream_problem {
            entry
                .why
                .push(format!("upstream stage `{up}` cannot be planned"));
            out.push(entry);
            continue;
        }
        let ctx = PlanContext {
            dataset,
            config: &cfg,
            store,
            cancel,
        };
        match stage.external_inputs(&ctx) {
            Ok(ext) => {
                for (k, v) in &ext {
                    inputs.insert(format!("external:{k}"), v.clone());
                }
                entry.external = ext;
            }
            Err(e) => {
                entry.why.push(e.to_string());
                out.push(entry);
                continue;
            }
        }
        let spec = KeySpec {
            stage: name.clone(),
            version: stage.version(),
            config: cfg.clone(),
            inputs,
        };
        let key = spec.key();
        let (state, mut why) = compare(store, &spec, &key, &entry.slot, &out);
        if state == State::Stale
            && let Some(line) = part_changes(store, stage.as_ref(), &ctx, &name, &entry.slot)
        {
            why.insert(0, line);
        }
        entry.state = state;
        entry.why = why;
        entry.key = Some(key);
        entry.spec = Some(spec);
        out.push(entry);
    }
    out
}

/// For a track-grained stage: which tracks changed since the slot's current artifact, when the
/// stage can list its units while planning.
fn part_changes(
    store: &Store,
    stage: &dyn Stage,
    ctx: &PlanContext<'_>,
    name: &str,
    slot: &Slot,
) -> Option<String> {
    let previous = store.current_of(name, slot).ok()??;
    if previous.manifest.parts.is_empty() {
        return None;
    }
    let units = stage.plan_units(ctx).ok()??;
    amt_stages::parts::explain_changes(&previous.manifest, &units, 5)
}

fn compare(
    store: &Store,
    spec: &KeySpec,
    key: &Key,
    slot: &Slot,
    earlier: &[PlanEntry],
) -> (State, Vec<String>) {
    let exists = match store.get(&spec.stage, slot, key) {
        Ok(a) => a.is_some(),
        Err(e) => {
            return (State::Damaged, vec![format!("{e}; `amt run` rebuilds it")]);
        }
    };
    let current = match store.read_ref(&spec.stage, slot) {
        Ok(r) => r,
        Err(e) => {
            return (State::Damaged, vec![format!("{e}; `amt run` rebuilds it")]);
        }
    };
    match current {
        Some(r) if &r == key && exists => (State::Fresh, Vec::new()),
        Some(r) if &r == key => (
            State::Stale,
            vec!["its artifact is gone from the store (evicted or deleted)".into()],
        ),
        None if exists => (State::Cached, vec!["built earlier; will be reused".into()]),
        None => (State::Missing, vec!["never built".into()]),
        Some(r) => {
            let mut why = match store.get(&spec.stage, slot, &r) {
                Ok(Some(old)) => explain(&old.manifest, spec, earlier),
                _ => vec![format!(
                    "the artifact `{}` it was built as is gone from the store",
                    r.short()
                )],
            };
            if exists {
                why.push("an artifact for the new inputs exists and will be reused".into());
                (State::Cached, why)
            } else {
                (State::Stale, why)
            }
        }
    }
}

/// The causes, most fundamental first: version, config fields, inputs.
fn explain(old: &amt_cache::Manifest, spec: &KeySpec, earlier: &[PlanEntry]) -> Vec<String> {
    let mut why = Vec::new();
    if old.stage_version != spec.version {
        why.push(format!(
            "stage version changed: {} -> {}",
            old.stage_version, spec.version
        ));
    }
    for d in config::diff(&old.config, &spec.config) {
        why.push(format!("config {d}"));
    }
    let names: std::collections::BTreeSet<&String> =
        old.inputs.keys().chain(spec.inputs.keys()).collect();
    for name in names {
        let (a, b) = (old.inputs.get(name), spec.inputs.get(name));
        if a == b {
            continue;
        }
        let short = |v: Option<&String>| {
            v.map(|s| s[..12.min(s.len())].to_string())
                .unwrap_or_else(|| "(none)".into())
        };
        let mut line = format!("input `{name}` changed: {} -> {}", short(a), short(b));
        if let Some(up) = name.strip_prefix("stage:")
            && let Some(up) = up.split('@').next()
            && let Some(e) = earlier.iter().find(|e| e.stage == up)
            && e.state != State::Fresh
        {
            line.push_str(&format!(" (upstream `{up}` is {:?})", e.state).to_lowercase());
        }
        why.push(line);
    }
    if why.is_empty() {
        why.push("key changed".into());
    }
    why
}
