//! Test stages for the integration tests in `tests/tests/`, shared with the `parts-child`
//! binary (a process the tests kill).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use amt_cache::Store;
use amt_pipeline::config::Config;
use amt_pipeline::graph::Graph;
use amt_pipeline::runner::{self, Force, RunReport, RunRequest, SilentReporter};
use amt_schemas::files::{self, FileRow, FilesBuilder};
use amt_stages::parts::{Unit, build_parts, consolidate_table, unit_digest};
use amt_stages::{DatasetSpec, Job, PlanContext, Stage};
use serde_json::{Value, json};

/// Milliseconds [`PartsStage`] sleeps in each part (to kill it midway).
pub const SLEEP_ENV: &str = "AMT_TEST_PART_SLEEP_MS";

/// A track-grained stage: one part per `u*.txt` file of the dataset folder, each writing a
/// few rows of the `files` schema; the rows are consolidated into one `files` table. Its
/// config `variant` (when set) names the slot variant it builds.
pub struct PartsStage;

fn unit_files(folder: &Path) -> amt_stages::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for e in fs_err::read_dir(folder)? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.starts_with('u') && name.ends_with(".txt") {
            let bytes = fs_err::read(folder.join(&name))?;
            out.push((name, blake3::hash(&bytes).to_hex().to_string()));
        }
    }
    out.sort();
    Ok(out)
}

fn units_of(config: &Value, folder: &Path) -> amt_stages::Result<Vec<Unit>> {
    Ok(unit_files(folder)?
        .into_iter()
        .map(|(name, hash)| {
            let id = name.trim_end_matches(".txt").to_string();
            Unit {
                digest: unit_digest("parts", config, 1, &id, &[("file", &hash)]),
                id,
                deps: BTreeMap::from([(name, hash)]),
            }
        })
        .collect())
}

impl Stage for PartsStage {
    fn name(&self) -> &str {
        "parts"
    }
    fn version(&self) -> u32 {
        1
    }
    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        Vec::new()
    }
    fn variant(&self, config: &Value) -> Option<String> {
        config["variant"].as_str().map(str::to_string)
    }
    fn default_config(&self) -> Value {
        json!({"rows_per_part": 3, "variant": null})
    }
    fn check_config(&self, _: &Value) -> amt_stages::Result<()> {
        Ok(())
    }
    fn plan_units(&self, ctx: &PlanContext<'_>) -> amt_stages::Result<Option<Vec<Unit>>> {
        units_of(ctx.config, &ctx.dataset.folder).map(Some)
    }
    fn external_inputs(
        &self,
        ctx: &PlanContext<'_>,
    ) -> amt_stages::Result<BTreeMap<String, String>> {
        let mut h = blake3::Hasher::new();
        for (name, hash) in unit_files(&ctx.dataset.folder)? {
            h.update(name.as_bytes());
            h.update(hash.as_bytes());
        }
        Ok(BTreeMap::from([(
            "units".into(),
            h.finalize().to_hex().to_string(),
        )]))
    }
    fn run(&self, job: &mut Job<'_>) -> amt_stages::Result<()> {
        let rows = job.config["rows_per_part"].as_u64().unwrap_or(3);
        let units = units_of(job.config, &job.dataset.folder)?;
        let sleep = std::env::var(SLEEP_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0u64);
        let dataset = job.dataset.name.clone();
        let (parts, _) = build_parts(job, &units, |u, w| {
            std::thread::sleep(std::time::Duration::from_millis(sleep));
            let mut b = FilesBuilder::new();
            for k in 0..rows {
                b.push(&FileRow {
                    dataset: &dataset,
                    path: &format!("{}/{k}", u.id),
                    size: k,
                    blake3: &u.digest,
                    mtime: 0,
                });
            }
            let mut t = w.table(files::NAME, files::schema())?;
            t.write(&b.finish())?;
            t.finish()?;
            Ok(json!({"rows": rows}))
        })?;
        consolidate_table(job, &parts, files::NAME, files::schema())?;
        Ok(())
    }
}

fn parts_config(config_toml: &str) -> Config {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg_path = dir.path().join("amt.toml");
    std::fs::write(&cfg_path, config_toml).expect("config written");
    Config::load(Some(&cfg_path)).expect("config loads")
}

/// What `amt status` would say of [`PartsStage`] for dataset `ds` (folder `data`).
pub fn plan_parts(store: &Path, data: &Path) -> amt_pipeline::plan::PlanEntry {
    let store = Store::open(store).expect("store opens");
    let graph = Graph::new(vec![Arc::new(PartsStage)]);
    let cancel = AtomicBool::new(false);
    let ds = DatasetSpec::local("ds", data);
    let mut plan = amt_pipeline::plan::plan_dataset(
        &graph,
        graph.stages(),
        &parts_config(""),
        &store,
        &ds,
        &cancel,
    );
    plan.remove(0)
}

/// Builds [`PartsStage`] for dataset `ds` (folder `data`) into the store at `store`.
pub fn run_parts(store: &Path, data: &Path, config_toml: &str) -> RunReport {
    let store = Store::open(store).expect("store opens");
    let graph = Graph::new(vec![Arc::new(PartsStage)]);
    let config = parts_config(config_toml);
    let datasets = vec![DatasetSpec::local("ds", data)];
    let stages = graph.stages().to_vec();
    let cancel = AtomicBool::new(false);
    let req = RunRequest {
        graph: &graph,
        config: &config,
        store: &store,
        datasets: &datasets,
        stages_for: &move |_| stages.clone(),
        force: Force::No,
        no_wait: false,
        cancel: &cancel,
    };
    runner::run(&req, &SilentReporter)
}
