//! `extract` of a dataset that is already on disk (`--nodown`): fingerprints every file of the
//! dataset's folder and publishes `files.parquet` (dataset, path, size, blake3, mtime).
//! The download issue adds archives; their extraction ends in the same table.

use std::collections::BTreeMap;

use amt_cache::fingerprint::{self, DirFingerprint, Options};
use amt_schemas::files::{self, FileRow, FilesBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{DatasetSpec, Error, Job, PlanContext, Result, Stage, parse_config};

pub const NAME: &str = "extract";
/// v1: local folders only.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExtractConfig {
    /// Also fingerprint files and folders whose name starts with `.`.
    pub include_hidden: bool,
}

pub struct ExtractStage;

impl ExtractStage {
    fn fingerprint(
        dataset: &DatasetSpec,
        config: &Value,
        memo_dir: &std::path::Path,
        progress: fingerprint::Progress<'_>,
        cancel: &std::sync::atomic::AtomicBool,
    ) -> Result<DirFingerprint> {
        let cfg: ExtractConfig = parse_config(NAME, config)?;
        if !dataset.folder.is_dir() {
            return Err(Error::MissingDataset {
                dataset: dataset.name.clone(),
                path: dataset.folder.clone(),
            });
        }
        let opts = Options {
            include_hidden: cfg.include_hidden,
        };
        match fingerprint::fingerprint_dir(&dataset.folder, memo_dir, opts, progress, cancel) {
            Err(amt_cache::Error::Interrupted) => Err(Error::Interrupted),
            other => Ok(other?),
        }
    }
}

impl Stage for ExtractStage {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        Vec::new()
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(ExtractConfig::default()).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        parse_config::<ExtractConfig>(NAME, config).map(|_| ())
    }

    fn external_inputs(&self, ctx: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        let fp = Self::fingerprint(
            ctx.dataset,
            ctx.config,
            &ctx.store.memo_dir(),
            &|_, _| {},
            ctx.cancel,
        )?;
        Ok(BTreeMap::from([("folder".to_string(), fp.digest)]))
    }

    fn run(&self, job: &mut Job<'_>) -> Result<()> {
        let progress = job.progress;
        progress.begin("fingerprinting", true);
        let fp = Self::fingerprint(
            job.dataset,
            job.config,
            &job.store.memo_dir(),
            &|done, total| progress.update(done, total),
            job.cancel,
        )?;
        if job.external.get("folder") != Some(&fp.digest) {
            return Err(Error::InputChanged {
                dataset: job.dataset.name.clone(),
                stage: NAME.into(),
                input: "folder".into(),
            });
        }
        let mut rows = FilesBuilder::new();
        for f in &fp.files {
            rows.push(&FileRow {
                dataset: &job.dataset.name,
                path: &f.path,
                size: f.size,
                blake3: &f.blake3,
                mtime_us: f.mtime_us,
            });
        }
        let total_bytes: u64 = fp.files.iter().map(|f| f.size).sum();
        job.out.write_table(files::NAME, &[rows.finish()])?;
        job.out.set_summary("files", fp.files.len().into());
        job.out.set_summary("bytes", total_bytes.into());
        job.out.set_summary("bytes_hashed", fp.hashed_bytes.into());
        if !fp.skipped.is_empty() {
            job.out.set_summary("skipped", fp.skipped.clone().into());
        }
        Ok(())
    }
}
