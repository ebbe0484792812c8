//! The pipeline stages, one module each, and the [`Stage`] trait they implement.
//!
//! A stage turns the artifacts of its upstream stages (and, for the first stages, files
//! outside the store) into one artifact per dataset. Stages are generic; what differs per
//! dataset lives in adapters. The runner (`amt-pipeline`) derives keys, skips fresh work and
//! publishes; a stage only computes.

pub mod adapters;
pub mod archive;
pub mod audio;
pub mod dataset;
pub mod download;
pub mod error;
pub mod extract;
pub mod notes;
pub mod parts;
pub mod presets;
pub mod registry;
pub mod shards;
pub mod split;
pub mod stem;
pub mod synth;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use amt_cache::{Artifact, ArtifactWriter, Key, Slot, Store};
use serde_json::Value;

pub use dataset::DatasetSpec;
pub use error::{Error, Result};

/// A pipeline stage. Implemented by the product stages here and by test stages.
pub trait Stage: Send + Sync {
    /// The stage's name (`extract`, `notes`...): part of every key and of the store layout.
    fn name(&self) -> &str;

    /// Bumped whenever the stage's output for the same inputs changes; part of the key.
    fn version(&self) -> u32;

    /// Upstream stages whose artifacts (for the same dataset) this stage reads.
    fn upstream(&self, dataset: &DatasetSpec) -> Vec<String>;

    /// The variant a resolved configuration builds: `None` publishes in the dataset's own
    /// slot, `Some(v)` in the slot `dataset@v`, so that several variants of one stage (e.g.
    /// shards of two codecs) keep their own artifacts and refs. Default: none.
    fn variant(&self, _config: &Value) -> Option<String> {
        None
    }

    /// The default configuration section (YourMT3's defaults), as JSON.
    fn default_config(&self) -> Value;

    /// Rejects a resolved configuration section this stage cannot use (unknown field, bad
    /// value), naming the field.
    fn check_config(&self, config: &Value) -> Result<()>;

    /// Why this stage has nothing to do for a dataset (`notes` on a dataset no adapter reads),
    /// or `None` when it applies. A stage that does not apply to a dataset is left out of that
    /// dataset's plan, runs and status. `config` is the resolved section. Default: applies.
    fn skip_reason(&self, _dataset: &DatasetSpec, _config: &Value) -> Option<String> {
        None
    }

    /// Track-grained stages: the units a build would have now, with their digests, when they
    /// can be known while planning (cheaply: from fingerprints, not by reading data). `amt
    /// status` uses them to say which tracks changed. Default: not known.
    fn plan_units(&self, _ctx: &PlanContext<'_>) -> Result<Option<Vec<parts::Unit>>> {
        Ok(None)
    }

    /// Digests of inputs that live outside the store (a dataset folder), by input name.
    fn external_inputs(&self, job: &PlanContext<'_>) -> Result<BTreeMap<String, String>>;

    /// Computes the artifact into `out`.
    fn run(&self, job: &mut Job<'_>) -> Result<()>;
}

/// What a stage may look at while the runner plans (derives keys).
pub struct PlanContext<'a> {
    pub dataset: &'a DatasetSpec,
    pub config: &'a Value,
    pub store: &'a Store,
    pub cancel: &'a AtomicBool,
}

/// One execution of a stage for one dataset (slot).
pub struct Job<'a> {
    pub stage: &'a str,
    pub dataset: &'a DatasetSpec,
    /// Where the artifact is published (the dataset, or `dataset@variant`).
    pub slot: &'a Slot,
    /// The key being built.
    pub key: &'a Key,
    pub config: &'a Value,
    pub store: &'a Store,
    /// The upstream artifacts this build's key was derived from, by stage.
    pub upstream: BTreeMap<String, Artifact>,
    /// The slot's artifact before this build (built from other inputs), whose unchanged parts
    /// a track-grained stage reuses (see [`parts`]).
    pub previous: Option<Artifact>,
    /// The digests `external_inputs` returned while planning: a stage re-checks them so
    /// that an input changed during the run is caught, not published under the old key.
    pub external: &'a BTreeMap<String, String>,
    pub out: &'a ArtifactWriter,
    pub progress: &'a dyn Progress,
    pub cancel: &'a AtomicBool,
}

impl Job<'_> {
    pub fn check_cancelled(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Progress reporting, implemented by the CLI (indicatif) and by quiet runs (no-op).
pub trait Progress: Sync {
    /// Starts a bar counting bytes (or items when `bytes` is false).
    fn begin(&self, message: &str, bytes: bool);
    /// `done` out of `total` units so far.
    fn update(&self, done: u64, total: u64);
}

/// A progress sink that shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _: &str, _: bool) {}
    fn update(&self, _: u64, _: u64) {}
}

/// Every product stage built so far, in graph order. Stages not built yet are absent.
pub fn product_stages() -> Vec<Box<dyn Stage>> {
    vec![
        Box::new(download::DownloadStage),
        Box::new(extract::ExtractStage),
        Box::new(notes::NotesStage),
        Box::new(stem::StemStage),
        Box::new(split::SplitStage),
        Box::new(shards::ShardsStage),
    ]
}

/// Parses a config section into the stage's typed config, naming the stage on error.
pub fn parse_config<T: serde::de::DeserializeOwned>(stage: &str, config: &Value) -> Result<T> {
    serde_json::from_value(config.clone()).map_err(|e| Error::Config {
        stage: stage.to_string(),
        reason: e.to_string(),
    })
}
