//! `split`: the `splits` table (dataset, track_id, split): one row per track and list it is
//! in. The official split (`train`, `validation`, `test`) as the adapter reads it: Slakh's
//! folders, MAESTRO's metadata column, GuitarSet's per-slot player permutation (seeded here;
//! YourMT3's was unseeded). And YourMT3's named lists that the adapter knows (GuitarSet's
//! `progression_<n>`, `player_<n>`, styles, `all`). The official split goes into the shards'
//! `segments`, where it chooses which tracks get overlapping training segments. Named lists are
//! joined when the shards are read, so one set of shards serves every list.
//!
//! ## Configuration (`[stage.split]`)
//! ```toml
//! [stage.split]
//! guitarset_seed = 113774510060914   # the seed of GuitarSet's player permutation
//! ```

use std::collections::BTreeMap;

use amt_schemas::splits::{self, SplitRow, SplitsBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::adapters::{self, guitarset::SPLIT_SEED};
use crate::stem::{adapter, dataset_files};
use crate::{DatasetSpec, Job, PlanContext, Result, Stage, parse_config};

pub const NAME: &str = "split";
/// v1: official splits of Slakh, MAESTRO, GuitarSet. v2: GuitarSet's named lists.
pub const VERSION: u32 = 2;

/// The official splits: each track is in at most one.
pub const OFFICIAL: [&str; 3] = ["train", "validation", "test"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitConfig {
    /// Seed of GuitarSet's train/validation/test permutation of players.
    pub guitarset_seed: u64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            guitarset_seed: SPLIT_SEED,
        }
    }
}

pub struct SplitStage;

impl Stage for SplitStage {
    fn name(&self) -> &str {
        NAME
    }

    fn version(&self) -> u32 {
        VERSION
    }

    fn upstream(&self, _: &DatasetSpec) -> Vec<String> {
        vec![crate::extract::NAME.to_string()]
    }

    fn default_config(&self) -> Value {
        serde_json::to_value(SplitConfig::default()).expect("config serializes")
    }

    fn check_config(&self, config: &Value) -> Result<()> {
        parse_config::<SplitConfig>(NAME, config).map(|_| ())
    }

    fn skip_reason(&self, dataset: &DatasetSpec, _: &Value) -> Option<String> {
        dataset
            .adapter
            .is_none()
            .then(|| adapters::missing_reason(&dataset.name))
    }

    fn external_inputs(&self, ctx: &PlanContext<'_>) -> Result<BTreeMap<String, String>> {
        Ok(adapters::key_input(ctx.dataset))
    }

    fn run(&self, job: &mut Job<'_>) -> Result<()> {
        let cfg: SplitConfig = parse_config(NAME, job.config)?;
        let adapter = adapter(job)?;
        let files = dataset_files(job)?;
        let listing = adapter.tracks(&files)?;
        let mut rows = adapter.splits(&files, &listing.tracks, cfg.guitarset_seed)?;
        rows.sort();
        let mut b = SplitsBuilder::new();
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for (track, split) in &rows {
            b.push(&SplitRow {
                dataset: &job.dataset.name,
                track_id: track,
                split,
            });
            *counts.entry(split.as_str()).or_default() += 1;
        }
        job.out.write_table(splits::NAME, &[b.finish()])?;
        job.out.set_summary(
            "splits",
            serde_json::to_value(&counts).expect("counts serialize"),
        );
        Ok(())
    }
}

/// Track id -> official split (`train`, `validation` or `test`) of a published `splits`
/// artifact.
pub fn read_splits(artifact: &amt_cache::Artifact) -> Result<BTreeMap<String, String>> {
    Ok(read_rows(artifact)?
        .into_iter()
        .filter(|(_, s)| OFFICIAL.contains(&s.as_str()))
        .collect())
}

/// List name -> its track ids, for every list (official and named) of a `splits` artifact.
pub fn read_lists(
    artifact: &amt_cache::Artifact,
) -> Result<BTreeMap<String, std::collections::BTreeSet<String>>> {
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (track, list) in read_rows(artifact)? {
        out.entry(list).or_default().insert(track);
    }
    Ok(out)
}

/// (track id, list) rows of a published `splits` artifact.
fn read_rows(artifact: &amt_cache::Artifact) -> Result<Vec<(String, String)>> {
    use arrow::array::AsArray;
    let path = artifact
        .table_file(splits::NAME)
        .ok_or_else(|| crate::Error::Table {
            path: artifact.dir.clone(),
            reason: "the artifact has no `splits` table".into(),
        })?;
    let bad = |reason: String| crate::Error::Table {
        path: path.clone(),
        reason,
    };
    let file = std::fs::File::open(&path).map_err(|e| bad(e.to_string()))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let (track, split) = (
            batch.column(1).as_string::<i32>(),
            batch.column(2).as_string::<i32>(),
        );
        for i in 0..batch.num_rows() {
            out.push((track.value(i).to_string(), split.value(i).to_string()));
        }
    }
    Ok(out)
}
