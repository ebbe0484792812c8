//! The runner on a graph of test stages (a product stage is never a stub): a config change
//! rebuilds that stage and its descendants only; a failing stage skips its own descendants
//! and leaves other datasets alone; keys chain through upstream keys.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use amt_cache::Store;
use amt_pipeline::config::Config;
use amt_pipeline::graph::Graph;
use amt_pipeline::runner::{self, Force, Outcome, RunRequest, SilentReporter};
use amt_schemas::files::{FileRow, FilesBuilder};
use amt_stages::{DatasetSpec, Job, PlanContext, Stage};
use serde_json::{Value, json};

/// Reads `<folder>/value.txt`; its config `x` is part of the key. Counts its runs.
struct TestStage {
    name: &'static str,
    upstream: Option<&'static str>,
    runs: AtomicUsize,
    fail_on: Option<&'static str>,
}

impl TestStage {
    fn new(name: &'static str, upstream: Option<&'static str>) -> Arc<TestStage> {
        Arc::new(TestStage {
            name,
            upstream,
            runs: AtomicUsize::new(0),
            fail_on: None,
        })
    }
}

impl Stage for TestStage {
    fn name(&self) -> &str {
        self.name
    }
    fn version(&self) -> u32 {
        1
    }
    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        self.upstream
            .map(|u| vec![u.to_string()])
            .unwrap_or_default()
    }
    fn default_config(&self) -> Value {
        json!({"x": 1})
    }
    fn check_config(&self, c: &Value) -> amt_stages::Result<()> {
        match c.get("x") {
            Some(v) if v.is_i64() => Ok(()),
            _ => Err(amt_stages::Error::Config {
                stage: self.name.into(),
                reason: "x must be an integer".into(),
            }),
        }
    }
    fn external_inputs(
        &self,
        ctx: &PlanContext<'_>,
    ) -> amt_stages::Result<BTreeMap<String, String>> {
        if self.upstream.is_some() {
            return Ok(BTreeMap::new());
        }
        let bytes = std::fs::read(ctx.dataset.folder.join("value.txt"))?;
        Ok(BTreeMap::from([(
            "value".to_string(),
            blake3::hash(&bytes).to_hex().to_string(),
        )]))
    }
    fn run(&self, job: &mut Job<'_>) -> amt_stages::Result<()> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        if self.fail_on == Some(job.dataset.name.as_str()) {
            return Err(amt_stages::Error::Config {
                stage: self.name.into(),
                reason: "test failure".into(),
            });
        }
        if let Some(up) = self.upstream {
            assert!(
                job.upstream.contains_key(up),
                "upstream artifact handed over"
            );
        }
        let mut b = FilesBuilder::new();
        b.push(&FileRow {
            dataset: &job.dataset.name,
            path: self.name,
            size: 0,
            blake3: "",
            mtime: 0,
        });
        job.out.write_table("files", &[b.finish()])?;
        Ok(())
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    datasets: Vec<DatasetSpec>,
    a: Arc<TestStage>,
    b: Arc<TestStage>,
    c: Arc<TestStage>,
}

fn fixture(fail_b_on: Option<&'static str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut datasets = Vec::new();
    for name in ["d1", "d2"] {
        let folder = dir.path().join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("value.txt"), name).unwrap();
        datasets.push(DatasetSpec::local(name, folder));
    }
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mut b = TestStage::new("b", Some("a"));
    Arc::get_mut(&mut b).unwrap().fail_on = fail_b_on;
    Fixture {
        store,
        datasets,
        a: TestStage::new("a", None),
        b,
        c: TestStage::new("c", Some("b")),
        _dir: dir,
    }
}

impl Fixture {
    fn graph(&self) -> Graph {
        Graph::new(vec![self.a.clone(), self.b.clone(), self.c.clone()])
    }

    fn run(&self, config: &Config) -> Vec<(String, String, Outcome)> {
        let graph = self.graph();
        let stages = graph.stages().to_vec();
        let cancel = AtomicBool::new(false);
        let req = RunRequest {
            graph: &graph,
            config,
            store: &self.store,
            datasets: &self.datasets,
            stages_for: &move |_| stages.clone(),
            force: Force::No,
            no_wait: false,
            cancel: &cancel,
        };
        let mut out: Vec<_> = runner::run(&req, &SilentReporter)
            .entries
            .into_iter()
            .map(|e| (e.stage, e.dataset, e.outcome))
            .collect();
        out.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        out
    }
}

fn config(toml_text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("amt.toml");
    std::fs::write(&path, toml_text).unwrap();
    Config::load(Some(&path)).unwrap()
}

fn row(s: &str, d: &str, o: Outcome) -> (String, String, Outcome) {
    (s.into(), d.into(), o)
}

#[test]
fn config_change_rebuilds_the_stage_and_its_descendants_only() {
    let f = fixture(None);
    let none = Config::default();
    assert!(f.run(&none).iter().all(|r| r.2 == Outcome::Ran));
    assert!(f.run(&none).iter().all(|r| r.2 == Outcome::Fresh));

    let changed = config("[stage.b]\nx = 2\n");
    changed.validate(&f.graph()).unwrap();
    assert_eq!(
        f.run(&changed),
        vec![
            row("a", "d1", Outcome::Fresh),
            row("a", "d2", Outcome::Fresh),
            row("b", "d1", Outcome::Ran),
            row("b", "d2", Outcome::Ran),
            row("c", "d1", Outcome::Ran),
            row("c", "d2", Outcome::Ran),
        ]
    );
    assert_eq!(f.a.runs.load(Ordering::SeqCst), 2);
    assert_eq!(f.b.runs.load(Ordering::SeqCst), 4);
    assert_eq!(f.c.runs.load(Ordering::SeqCst), 4);

    // A per-dataset override touches that dataset only.
    let per_dataset = config("[stage.b]\nx = 2\n[dataset.d2.stage.c]\nx = 5\n");
    assert_eq!(
        f.run(&per_dataset),
        vec![
            row("a", "d1", Outcome::Fresh),
            row("a", "d2", Outcome::Fresh),
            row("b", "d1", Outcome::Fresh),
            row("b", "d2", Outcome::Fresh),
            row("c", "d1", Outcome::Fresh),
            row("c", "d2", Outcome::Ran),
        ]
    );
}

#[test]
fn input_change_propagates_through_upstream_keys() {
    let f = fixture(None);
    let none = Config::default();
    f.run(&none);
    std::fs::write(f.datasets[0].folder.join("value.txt"), "changed").unwrap();
    assert_eq!(
        f.run(&none),
        vec![
            row("a", "d1", Outcome::Ran),
            row("a", "d2", Outcome::Fresh),
            row("b", "d1", Outcome::Ran),
            row("b", "d2", Outcome::Fresh),
            row("c", "d1", Outcome::Ran),
            row("c", "d2", Outcome::Fresh),
        ]
    );
}

#[test]
fn a_failure_skips_descendants_of_that_dataset_only() {
    let f = fixture(Some("d1"));
    assert_eq!(
        f.run(&Config::default()),
        vec![
            row("a", "d1", Outcome::Ran),
            row("a", "d2", Outcome::Ran),
            row("b", "d1", Outcome::Failed),
            row("b", "d2", Outcome::Ran),
            row("c", "d1", Outcome::Skipped),
            row("c", "d2", Outcome::Ran),
        ]
    );
    assert!(
        f.store
            .read_ref("b", &amt_cache::Slot::dataset("d1"))
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .read_ref("c", &amt_cache::Slot::dataset("d2"))
            .unwrap()
            .is_some()
    );
}

#[test]
fn invalid_config_is_rejected_naming_the_stage() {
    let f = fixture(None);
    let bad = config("[stage.c]\nx = \"two\"\n");
    let err = bad.validate(&f.graph()).unwrap_err().to_string();
    assert!(
        err.contains("`c`") && err.contains("x must be an integer"),
        "{err}"
    );
    let unknown = config("[stage.zzz]\nx = 1\n");
    let err = unknown.validate(&f.graph()).unwrap_err().to_string();
    assert!(err.contains("unknown stage `zzz`"), "{err}");
}
