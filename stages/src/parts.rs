//! Track-grained building: a stage that works per track (or per bucket of tracks) lists its
//! units with the digest of each unit's own inputs, and [`build_parts`] computes only what is
//! needed:
//! - a unit finished before a kill -9 or Ctrl-C (same digest, in this key's part area) is
//!   taken as it is (**resumed**);
//! - a unit whose digest equals the one in the slot's previous artifact is hard-linked from
//!   there (**reused**): changing one track of a 1,700-track dataset computes one unit;
//! - every other unit is **computed**, in parallel, each published atomically when done.
//!
//! The artifact then holds every unit under `parts/<id>/`, listed in its manifest with its
//! digest, and is the same whatever mix of resumed, reused and computed units built it (same
//! key, same files, same rows).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use amt_cache::{Part, PartWriter};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::{Error, Job, Result};

/// One unit of work: its id, the digest of its own inputs, and the dataset files it depends
/// on with their blake3 (`amt status` says which of them changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub id: String,
    pub digest: String,
    pub deps: BTreeMap<String, String>,
}

/// Why a track-grained build is stale, part by part: `3 of 1,710 tracks changed: Track00042
/// (Track00042/mix.flac modified), ...` (at most `show` named), from the previous artifact's
/// parts and the units the stage plans now. `None` when nothing changed at part level.
pub fn explain_changes(
    previous: &amt_cache::Manifest,
    units: &[Unit],
    show: usize,
) -> Option<String> {
    let mut lines = Vec::new();
    let mut changed = 0;
    for u in units {
        let why = match previous.parts.get(&u.id) {
            None => "added".to_string(),
            Some(p) if p.digest == u.digest => continue,
            Some(p) => {
                let mut files = Vec::new();
                for (path, hash) in &u.deps {
                    match p.deps.get(path) {
                        None => files.push(format!("{path} added")),
                        Some(old) if old != hash => files.push(format!("{path} modified")),
                        _ => {}
                    }
                }
                for path in p.deps.keys().filter(|k| !u.deps.contains_key(*k)) {
                    files.push(format!("{path} removed"));
                }
                if files.is_empty() {
                    "its inputs changed".to_string()
                } else {
                    files.join(", ")
                }
            }
        };
        changed += 1;
        if lines.len() < show {
            lines.push(format!("{} ({why})", u.id));
        }
    }
    let removed: Vec<&String> = previous
        .parts
        .keys()
        .filter(|k| !units.iter().any(|u| &u.id == *k))
        .collect();
    if changed == 0 && removed.is_empty() {
        return None;
    }
    let mut text = format!("{changed} of {} track(s) changed", units.len());
    if !lines.is_empty() {
        text.push_str(": ");
        text.push_str(&lines.join(", "));
        if changed > lines.len() {
            text.push_str(", ...");
        }
    }
    if !removed.is_empty() {
        text.push_str(&format!("; {} removed", removed.len()));
    }
    Some(text)
}

/// How the units of a build were obtained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PartCounts {
    pub computed: u64,
    pub reused: u64,
    pub resumed: u64,
}

/// The digest of a unit: the stage, its version and config, the unit id, and the digests of
/// whatever the unit reads (its files' blake3, upstream parts' digests), in a stable order.
pub fn unit_digest(
    stage: &str,
    config: &Value,
    version: u32,
    unit: &str,
    inputs: &[(&str, &str)],
) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"amt-part-v1\0");
    h.update(stage.as_bytes());
    h.update(&version.to_le_bytes());
    h.update(amt_cache::canonical::to_string(config).as_bytes());
    h.update(b"\0");
    h.update(unit.as_bytes());
    for (name, digest) in inputs {
        h.update(b"\0");
        h.update(name.as_bytes());
        h.update(b"=");
        h.update(digest.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// Builds every unit (see the module doc) and adds them to the artifact being written, in
/// `units` order. `compute` writes one unit's files and returns its summary. Returns the
/// parts and how they were obtained (also recorded in the manifest summary as `parts`).
pub fn build_parts<F>(job: &Job<'_>, units: &[Unit], compute: F) -> Result<(Vec<Part>, PartCounts)>
where
    F: Fn(&Unit, &PartWriter) -> Result<Value> + Sync,
{
    let area = job.store.part_area(job.stage, job.slot, job.key)?;
    let (computed, reused, resumed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let done = AtomicU64::new(0);
    let total = units.len() as u64;
    job.progress.update(0, total);
    let parts: Vec<Result<Part>> = units
        .par_iter()
        .map(|u| {
            if job.cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted);
            }
            let part = if let Some(p) = area.finished(&u.id, &u.digest) {
                resumed.fetch_add(1, Ordering::Relaxed);
                p
            } else if let Some(p) = match &job.previous {
                Some(prev) => area.reuse(prev, &u.id, &u.digest)?,
                None => None,
            } {
                reused.fetch_add(1, Ordering::Relaxed);
                p
            } else {
                let w = area.begin(&u.id)?;
                let summary = compute(u, &w)?;
                computed.fetch_add(1, Ordering::Relaxed);
                w.commit(&u.digest, u.deps.clone(), summary)?
            };
            job.progress
                .update(done.fetch_add(1, Ordering::Relaxed) + 1, total);
            Ok(part)
        })
        .collect();
    let parts: Vec<Part> = parts.into_iter().collect::<Result<_>>()?;
    for p in &parts {
        job.out.add_part(&area, p)?;
    }
    let counts = PartCounts {
        computed: computed.into_inner(),
        reused: reused.into_inner(),
        resumed: resumed.into_inner(),
    };
    job.out.set_summary(
        "parts",
        serde_json::to_value(counts).expect("counts serialize"),
    );
    Ok((parts, counts))
}

/// Streams the `<table>.parquet` file of every part (in `parts` order) into one table of the
/// artifact, so that SQL reads one file per dataset instead of one per track. Memory holds one
/// batch at a time.
pub fn consolidate_table(
    job: &Job<'_>,
    parts: &[Part],
    table: &str,
    schema: arrow::datatypes::SchemaRef,
) -> Result<u64> {
    let mut out = job.out.table(table, schema)?;
    let file = format!("{table}.parquet");
    for p in parts {
        if !p.files.iter().any(|f| f.path == file) {
            continue;
        }
        let path = job
            .out
            .dir()
            .join(format!("parts/{}", p.dir_name()))
            .join(&file);
        let bad = |reason: String| Error::Table {
            path: path.clone(),
            reason,
        };
        let reader = std::fs::File::open(&path)
            .map_err(|e| bad(e.to_string()))
            .and_then(|f| {
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                    .and_then(|b| b.build())
                    .map_err(|e| bad(e.to_string()))
            })?;
        for batch in reader {
            out.write(&batch.map_err(|e| bad(e.to_string()))?)?;
        }
    }
    let rows = out.rows();
    out.finish()?;
    Ok(rows)
}
