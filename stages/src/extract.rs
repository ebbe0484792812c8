//! `extract`: makes the dataset's folder and publishes `files.parquet` (dataset, path, size,
//! blake3, mtime) of every file in it.
//!
//! - A local folder (`--nodown`, a dataset outside the registry, an installed one): no upstream;
//!   the folder's fingerprint is the stage's external input.
//! - An archive (a registry dataset whose folder is not on disk yet): reads `download`'s
//!   artifact and extracts the verified archive safely and atomically ([`crate::archive`]),
//!   then fingerprints the new folder exactly as for a local one.

use std::collections::BTreeMap;

use amt_cache::fingerprint::{self, DirFingerprint, Options};
use amt_schemas::files::{self, FileRow, FilesBuilder};
use amt_schemas::problems::{self, ProblemRow, ProblemsBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::archive::{self, Limits};
use crate::download::{self, ArchiveRecord};
use crate::{DatasetSpec, Error, Job, PlanContext, Result, Stage, parse_config};

pub const NAME: &str = "extract";
/// v1: local folders only. v2: archives (download upstream). Archive handling (keep the
/// archive, bomb limits) is [`archive::ArchiveOptions`], deliberately not part of the key.
/// v3: entries left out of `files` are `problems` rows.
pub const VERSION: u32 = 3;

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

    fn upstream(&self, dataset: &DatasetSpec) -> Vec<String> {
        if dataset.archive().is_some() {
            vec![download::NAME.to_string()]
        } else {
            Vec::new()
        }
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(ExtractConfig::default()).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        parse_config::<ExtractConfig>(NAME, config).map(|_| ())
    }

    fn external_inputs(&self, ctx: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        if ctx.dataset.archive().is_some() {
            // The verified archive (the `download` key) is the input.
            return Ok(BTreeMap::new());
        }
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
        let from_archive = job.dataset.archive().is_some();
        if from_archive {
            extract_from_archive(job)?;
        }
        progress.begin("fingerprinting", true);
        let fp = Self::fingerprint(
            job.dataset,
            job.config,
            &job.store.memo_dir(),
            &|done, total| progress.update(done, total),
            job.cancel,
        )?;
        if !from_archive && job.external.get("folder") != Some(&fp.digest) {
            return Err(Error::InputChanged {
                dataset: job.dataset.name.clone(),
                stage: NAME.into(),
                input: "folder".into(),
            });
        }
        publish_files(job, &fp)
    }
}

/// Extracts the upstream `download`'s archive into the dataset's folder.
fn extract_from_archive(job: &mut Job<'_>) -> Result<()> {
    let opts = archive::options();
    let artifact = job
        .upstream
        .get(download::NAME)
        .ok_or_else(|| Error::Config {
            stage: NAME.into(),
            reason: format!("dataset `{}` has no `download` artifact", job.dataset.name),
        })?;
    let mut record = ArchiveRecord::read(&artifact.dir)?;
    if let Some(src) = job.dataset.archive() {
        // The kept archive is checked again (size and hash) before every extraction: one
        // changed or truncated since it was downloaded is fetched and verified again, never
        // extracted. One deleted since (--delete-archive, or by hand) is fetched again too.
        let present = fs_err::metadata(&record.path).is_ok_and(|m| m.len() == record.size);
        if present {
            job.progress.begin("re-verifying the archive", true);
        }
        let token = if src.restricted {
            download::token()
        } else {
            None
        };
        let got = download::fetch_verified(
            &job.dataset.name,
            src,
            token.as_ref(),
            download::NetOptions::from_env(),
            job.progress,
            job.cancel,
        )?;
        if present && got.fetched > 0 {
            tracing::warn!(
                "dataset `{}`: the kept archive `{}` had changed since it was verified; it was downloaded again",
                job.dataset.name,
                record.path.display()
            );
        }
        record.path = got.path;
        record.size = got.size;
    }
    let size = record.size;
    let limits = Limits::for_archive(size, opts.max_ratio, opts.max_files);
    let done = archive::extract_archive(
        &job.dataset.name,
        &record.path,
        &job.dataset.folder,
        limits,
        job.progress,
        job.cancel,
    )?;
    tracing::info!(
        "dataset `{}`: extracted {} files ({} bytes) into `{}`",
        job.dataset.name,
        done.files,
        done.bytes,
        job.dataset.folder.display()
    );
    job.out.set_summary("extracted_files", done.files.into());
    job.out.set_summary("extracted_bytes", done.bytes.into());
    if !opts.keep_archive {
        fs_err::remove_file(&record.path)?;
        job.out.set_summary("archive_deleted", true.into());
    }
    Ok(())
}

/// `files.parquet` and the summary from a folder's fingerprint (local and archive alike).
fn publish_files(job: &mut Job<'_>, fp: &DirFingerprint) -> Result<()> {
    {
        let mut rows = FilesBuilder::new();
        for f in &fp.files {
            rows.push(&FileRow {
                dataset: &job.dataset.name,
                path: &f.path,
                size: f.size,
                blake3: &f.blake3,
                mtime: f.mtime_us,
            });
        }
        let total_bytes: u64 = fp.files.iter().map(|f| f.size).sum();
        job.out.write_table(files::NAME, &[rows.finish()])?;
        job.out.set_summary("files", fp.files.len().into());
        job.out.set_summary("bytes", total_bytes.into());
        job.out.set_summary("bytes_hashed", fp.hashed_bytes.into());
        // Entries that cannot be fingerprinted are said, not dropped silently: a warning with
        // the count and the first names, and a `problems` row each.
        let mut problems = ProblemsBuilder::new();
        for sk in &fp.skipped {
            problems.push(&ProblemRow {
                dataset: &job.dataset.name,
                stage: NAME,
                path: &sk.path,
                error: &format!("left out of `files`: {}", sk.reason),
            });
        }
        if !fp.skipped.is_empty() {
            let first: Vec<String> = fp
                .skipped
                .iter()
                .take(3)
                .map(|s| format!("`{}` ({})", s.path, s.reason))
                .collect();
            tracing::warn!(
                "dataset `{}`: {} entr{} left out of `files`: {}{} (see `amt sql \"SELECT path, error FROM problems WHERE stage = 'extract'\"`)",
                job.dataset.name,
                fp.skipped.len(),
                if fp.skipped.len() == 1 { "y" } else { "ies" },
                first.join(", "),
                if fp.skipped.len() > 3 { ", ..." } else { "" }
            );
        }
        job.out.write_table(problems::NAME, &[problems.finish()])?;
        job.out.set_summary("skipped", fp.skipped.len().into());
        Ok(())
    }
}
