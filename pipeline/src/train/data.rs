//! A run's data: its datasets built up to `shards` (in the run's shards variant), their
//! training segments, and the validation and test files with their reference notes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use amt_cache::{Pin, Slot, Store};
use amt_model::stream::{DatasetSegments, SegmentInfo};
use amt_stages::DatasetSpec;
use amt_stages::shards::ShardsConfig;
use amt_symbolic::Note;
use anyhow::Context as _;

use super::augmented::DatasetAudio;
use super::resolve::TrainPlan;
use crate::cli::with_hint;
use crate::context::Context;
use crate::runner::Force;

/// One file to transcribe and score: its segments in order and its reference notes.
#[derive(Debug, Clone)]
pub struct EvalTrack {
    pub dataset: String,
    pub track_id: String,
    pub segments: Vec<SegmentInfo>,
    pub reference: Vec<Note>,
}

/// The files of one dataset's split and the eval vocabulary they are scored with.
#[derive(Debug, Clone)]
pub struct EvalSet {
    /// The data preset member (the dataset's name for a plain dataset).
    pub dataset: String,
    pub eval_vocab: Option<String>,
    pub drum_vocab: Option<String>,
    /// Classes that also get pitch-class metrics.
    pub pitch_class_metric: Vec<String>,
    pub tracks: Vec<EvalTrack>,
}

pub struct RunData {
    pub train: Vec<DatasetSegments>,
    /// Each training member's stem audio and notes, by member: loaded when the run augments
    /// (the augmented stream reads audio, not the shards' spectrograms).
    pub audio: BTreeMap<String, Arc<DatasetAudio>>,
    pub validation: Vec<EvalSet>,
    pub test: Vec<EvalSet>,
    /// The artifacts read (to pin in the run).
    pub pins: Vec<Pin>,
}

/// The `[stage.shards]` configuration a plan needs.
pub fn shards_config(plan: &TrainPlan) -> ShardsConfig {
    ShardsConfig {
        codec: plan.codec.clone(),
        hop_length: Some(plan.hop_length),
        n_mels: Some(plan.n_mels),
        task: plan.task.clone(),
        train_stride: plan.train_stride,
    }
}

/// The datasets of the plan's members, each once, in order.
fn dataset_names(plan: &TrainPlan) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in &plan.members {
        if !out.contains(&m.dataset) {
            out.push(m.dataset.clone());
        }
    }
    out
}

/// Builds (or finds fresh) every dataset of the plan up to `shards` with the plan's shards
/// configuration; fails naming the datasets whose stages failed.
pub fn build(ctx: &Context, plan: &TrainPlan, quiet: bool) -> anyhow::Result<Vec<DatasetSpec>> {
    let given = dataset_names(plan);
    let datasets = crate::commands::resolve_datasets(ctx, &given)?;
    // A folder given to -d is registered under its folder's name by the resolution above;
    // the run must name it that way (its slots, pins and plan use dataset names).
    let renamed: Vec<String> = given
        .iter()
        .zip(&datasets)
        .filter(|(g, d)| **g != d.name)
        .map(|(g, d)| format!("`{g}` is dataset `{}`", d.name))
        .collect();
    if !renamed.is_empty() {
        return Err(with_hint(
            anyhow::anyhow!(
                "-d takes dataset names, not folders: {}",
                renamed.join(", ")
            ),
            "the folders are registered now: train with -d and their names",
        ));
    }
    let mut config = ctx.config.clone();
    let table = toml::Table::try_from(shards_config(plan)).expect("a shards config is a table");
    config
        .file
        .stage
        .insert(amt_stages::shards::NAME.into(), table);
    let ctx2 = Context {
        data_home: ctx.data_home.clone(),
        store_root: ctx.store_root.clone(),
        config,
        config_file: ctx.config_file.clone(),
        graph: ctx.graph.clone(),
        quiet: ctx.quiet,
        cancel: ctx.cancel.clone(),
    };
    let stages = ctx.graph.until(Some(amt_stages::shards::NAME))?;
    let all = stages.clone();
    let report = crate::commands::build(
        &ctx2,
        &datasets,
        &move |_| all.clone(),
        Force::No,
        quiet,
        false,
    )?;
    if report.interrupted() {
        anyhow::bail!("interrupted while building the training data");
    }
    if report.failed() {
        let failed: Vec<String> = report
            .entries
            .iter()
            .filter(|e| e.outcome == crate::runner::Outcome::Failed)
            .map(|e| {
                format!(
                    "`{}` of `{}`: {}",
                    e.stage,
                    e.dataset,
                    e.error.clone().unwrap_or_default()
                )
            })
            .collect();
        return Err(with_hint(
            anyhow::anyhow!(
                "the training data could not be built: {}",
                failed.join("; ")
            ),
            "`amt status` shows each stage; fix the input it names and train again (what was built is kept)",
        ));
    }
    Ok(datasets)
}

/// Reads the built shards of `datasets` (with the plan's variant) and their notes: the
/// current artifacts; with `with_audio`, also each member's stem audio index, which the
/// augmented stream reads (the plan's augmentation needs it; `--dry-run-batches` always does).
pub fn load(
    store: &Store,
    plan: &TrainPlan,
    datasets: &[DatasetSpec],
    val_max_files: usize,
    with_audio: bool,
) -> anyhow::Result<RunData> {
    let names: Vec<String> = datasets.iter().map(|d| d.name.clone()).collect();
    load_with(plan, &names, val_max_files, with_audio, |stage, slot| {
        Ok(store.current_of(stage, slot)?)
    })
}

/// Reads the artifacts a run pinned (the ranks other than 0 of a data-parallel run: rank 0
/// built and pinned them; nothing here takes a store lock).
pub fn load_pinned(
    store: &Store,
    plan: &TrainPlan,
    pins: &[Pin],
    val_max_files: usize,
) -> anyhow::Result<RunData> {
    load_with(
        plan,
        &dataset_names(plan),
        val_max_files,
        plan.augment.is_active(),
        |stage, slot| match pins.iter().find(|p| p.stage == stage && &p.slot == slot) {
            Some(p) => Ok(store.get(stage, slot, &p.key)?),
            None => Ok(None),
        },
    )
}

fn load_with(
    plan: &TrainPlan,
    names: &[String],
    val_max_files: usize,
    with_audio: bool,
    find: impl Fn(&str, &Slot) -> anyhow::Result<Option<amt_cache::Artifact>>,
) -> anyhow::Result<RunData> {
    let variant = shards_config(plan).variant()?;
    let mut out = RunData {
        train: Vec::new(),
        audio: BTreeMap::new(),
        validation: Vec::new(),
        test: Vec::new(),
        pins: Vec::new(),
    };
    // A dataset's artifacts, read once however many members use it.
    struct Loaded {
        segments: Vec<SegmentInfo>,
        notes: Arc<BTreeMap<String, amt_stages::notes::read::StemGroups>>,
        /// Every list (official and named) -> its tracks.
        lists: BTreeMap<String, BTreeSet<String>>,
        audio: Option<Arc<DatasetAudio>>,
    }
    let mut loaded: BTreeMap<String, Loaded> = BTreeMap::new();
    for name in names {
        let shard_slot = Slot::variant(name.clone(), variant.clone());
        let slot = Slot::dataset(name.clone());
        let shards = find(amt_stages::shards::NAME, &shard_slot)?
            .with_context(|| format!("dataset `{name}` has no shards `{variant}`"))?;
        let notes = find(amt_stages::notes::NAME, &slot)?
            .with_context(|| format!("dataset `{name}` has no notes"))?;
        let splits = find(amt_stages::split::NAME, &slot)?
            .with_context(|| format!("dataset `{name}` has no splits"))?;
        let stem = if with_audio {
            Some(
                find(amt_stages::stem::NAME, &slot)?
                    .with_context(|| format!("dataset `{name}` has no stem audio"))?,
            )
        } else {
            None
        };
        for a in [&shards, &notes, &splits].into_iter().chain(stem.as_ref()) {
            out.pins.push(Pin {
                stage: a.manifest.stage.clone(),
                slot: a.manifest.slot.clone(),
                key: a.manifest.key.clone(),
            });
        }
        let track_notes = amt_stages::notes::read::all_track_notes(&notes)?;
        let audio = match &stem {
            Some(stem) => Some(Arc::new(DatasetAudio::new(
                stem.dir.clone(),
                amt_stages::shards::read_track_audio(stem)?,
                &track_notes,
            ))),
            None => None,
        };
        loaded.insert(
            name.clone(),
            Loaded {
                segments: amt_stages::shards::read_segments(&shards)?,
                notes: Arc::new(track_notes),
                lists: amt_stages::split::read_lists(&splits)?,
                audio,
            },
        );
    }
    for m in &plan.members {
        let d = loaded
            .get(&m.dataset)
            .with_context(|| format!("dataset `{}` of `{}` was not loaded", m.dataset, m.preset))?;
        // Whether a segment's track is in list `l`: the official split is in the segment,
        // named lists are joined here.
        let in_list = |s: &SegmentInfo, l: &str| {
            s.split == l || d.lists.get(l).is_some_and(|t| t.contains(&s.track_id))
        };
        let known = |l: &str| d.lists.contains_key(l);
        if !m.train.is_empty() {
            let train = merged_lists(&d.segments, &m.train, in_list);
            if train.is_empty() {
                let missing: Vec<&str> = m
                    .train
                    .iter()
                    .map(String::as_str)
                    .filter(|l| !known(l))
                    .collect();
                anyhow::bail!(
                    "`{}` (dataset `{}`) has no training segments in its lists {}{}",
                    m.preset,
                    m.dataset,
                    m.train.join(", "),
                    if missing.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; the dataset's adapter does not make {} (it has: {})",
                            missing.join(", "),
                            d.lists.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    }
                );
            }
            if let Some(a) = &d.audio {
                out.audio.insert(m.preset.clone(), a.clone());
            }
            out.train.push(DatasetSegments {
                dataset: m.preset.clone(),
                weight: m.weight,
                segments: train,
            });
        }
        for (split, dest, max) in [
            (&m.validation, &mut out.validation, val_max_files),
            (&m.test, &mut out.test, usize::MAX),
        ] {
            let Some(split) = split else { continue };
            if !known(split) {
                tracing::warn!(
                    "`{}`: dataset `{}` has no split list `{split}`; nothing to score there",
                    m.preset,
                    m.dataset
                );
            }
            let tracks = eval_tracks(&m.preset, &d.segments, |s| in_list(s, split), &d.notes, max);
            dest.push(EvalSet {
                dataset: m.preset.clone(),
                eval_vocab: plan.eval_vocab.clone().or_else(|| m.eval_vocab.clone()),
                drum_vocab: m.drum_vocab.clone(),
                pitch_class_metric: m.pitch_class_metric.clone(),
                tracks,
            });
        }
    }
    Ok(out)
}

/// Pseudo-stage and version of the `data_presets` artifact `amt train` publishes.
const PRESET_STAGE: &str = "preset";
const PRESET_VERSION: u32 = 1;

/// Publishes what the plan's data preset resolved to (the `data_presets` table, in the slot
/// `+preset:<-d value>`), keyed by the members and the artifacts read; adds its pin to `data`.
pub fn publish_preset(store: &Store, plan: &TrainPlan, data: &mut RunData) -> anyhow::Result<()> {
    use amt_schemas::data_presets::{DataPresetRow, DataPresetsBuilder, NAME as TABLE};
    let name = plan.data_preset.replace(',', ".");
    let slot = Slot::cross(PRESET_STAGE, name.clone());
    slot.check()
        .map_err(|_| anyhow::anyhow!("`{}` cannot name a preset slot", plan.data_preset))?;
    // Entries and shares exactly as the sampler sees them.
    let entries: Vec<usize> = data
        .train
        .iter()
        .map(|d| {
            d.segments
                .iter()
                .map(|s| (s.track_id.as_str(), s.mix.as_str()))
                .collect::<BTreeSet<_>>()
                .len()
        })
        .collect();
    let weights: Vec<f64> = data.train.iter().map(|d| d.weight).collect();
    let shares = amt_model::stream::dataset_probabilities(&weights, &entries);
    let mut inputs: BTreeMap<String, String> = BTreeMap::new();
    for p in &data.pins {
        inputs.insert(format!("{}:{}", p.stage, p.slot), p.key.to_string());
    }
    let spec = amt_cache::KeySpec {
        stage: PRESET_STAGE.into(),
        version: PRESET_VERSION,
        config: serde_json::to_value(&plan.members)?,
        inputs,
    };
    let key = spec.key();
    let _lock = store.lock_slot(PRESET_STAGE, &slot, true)?;
    if store.get(PRESET_STAGE, &slot, &key)?.is_none() {
        let mut b = DataPresetsBuilder::default();
        for m in &plan.members {
            let i = data.train.iter().position(|d| d.dataset == m.preset);
            let train_lists = m.train.join("+");
            b.push(&DataPresetRow {
                preset: &name,
                member: &m.preset,
                dataset: &m.dataset,
                weight: m.weight,
                train_lists: &train_lists,
                validation: m.validation.as_deref(),
                test: m.test.as_deref(),
                eval_vocab: m.eval_vocab.as_deref(),
                drum_vocab: m.drum_vocab.as_deref(),
                train_entries: i.map_or(0, |i| entries[i] as u64),
                probability: i.map_or(0.0, |i| shares[i]),
            });
        }
        let w = store.begin(PRESET_STAGE, &slot, &key)?;
        w.write_table(TABLE, &[b.finish()])?;
        w.set_summary("members", plan.members.len().into());
        w.commit(
            PRESET_VERSION,
            spec.inputs.clone(),
            spec.config.clone(),
            false,
        )?;
    }
    store.write_ref(PRESET_STAGE, &slot, &key)?;
    data.pins.push(Pin {
        stage: PRESET_STAGE.into(),
        slot,
        key,
    });
    Ok(())
}

/// The training segments of lists merged as YourMT3's `merge_splits` does: concatenated, so a
/// track in two of the lists (or a list named twice, ENST's 2x oversampling) is two entries.
/// Each further copy of a track's mix is told apart by a `#<n>` suffix on the mix name, which
/// is what makes it an entry of its own for the sampler.
fn merged_lists(
    segments: &[SegmentInfo],
    lists: &[String],
    in_list: impl Fn(&SegmentInfo, &str) -> bool,
) -> Vec<SegmentInfo> {
    let mut copies: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut out = Vec::new();
    for list in lists {
        let mut seen_here: BTreeSet<(&str, &str)> = BTreeSet::new();
        for s in segments.iter().filter(|s| in_list(s, list)) {
            let key = (s.track_id.as_str(), s.mix.as_str());
            if seen_here.insert(key) {
                *copies.entry(key).or_default() += 1;
            }
            let n = copies[&key];
            let mut s = s.clone();
            if n > 1 {
                s.mix = format!("{}#{n}", s.mix);
            }
            out.push(s);
        }
    }
    out
}

/// The files whose segments `pick` takes (one mix each: the first), segments in order, with
/// their notes; at most `max`, taken in track order.
fn eval_tracks(
    dataset: &str,
    segments: &[SegmentInfo],
    pick: impl Fn(&SegmentInfo) -> bool,
    notes: &BTreeMap<String, amt_stages::notes::read::StemGroups>,
    max: usize,
) -> Vec<EvalTrack> {
    let mut by_track: BTreeMap<&str, Vec<&SegmentInfo>> = BTreeMap::new();
    for s in segments.iter().filter(|s| pick(s)) {
        by_track.entry(&s.track_id).or_default().push(s);
    }
    let mut out = Vec::new();
    for (track, mut segs) in by_track.into_iter().take(max) {
        let Some(groups) = notes.get(track) else {
            continue;
        };
        let first_mix = segs.iter().map(|s| s.mix.clone()).min().unwrap_or_default();
        segs.retain(|s| s.mix == first_mix);
        segs.sort_by_key(|s| s.start_sample);
        out.push(EvalTrack {
            dataset: dataset.to_string(),
            track_id: track.to_string(),
            segments: segs.into_iter().cloned().collect(),
            reference: amt_stages::notes::track_notes(groups.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(track: &str, mix: &str, split: &str, row: u32) -> SegmentInfo {
        SegmentInfo {
            track_id: track.into(),
            mix: mix.into(),
            split: split.into(),
            shard: "s.arrow".into(),
            row,
            start_sample: 0,
        }
    }

    /// Lists are concatenated: a list named twice gives each of its tracks two entries, told
    /// apart by the mix name; other lists add their own tracks once.
    #[test]
    fn merged_lists_keep_duplicates_as_entries() {
        let segments = vec![
            seg("a", "mix", "d1", 0),
            seg("a", "mix", "d1", 1),
            seg("b", "mix", "d2", 2),
        ];
        let lists: Vec<String> = ["d1", "d2", "d1"].map(String::from).to_vec();
        let merged = merged_lists(&segments, &lists, |s, l| s.split == l);
        let entries: Vec<(String, String, u32)> = merged
            .iter()
            .map(|s| (s.track_id.clone(), s.mix.clone(), s.row))
            .collect();
        assert_eq!(
            entries,
            [
                ("a".into(), "mix".into(), 0),
                ("a".into(), "mix".into(), 1),
                ("b".into(), "mix".into(), 2),
                ("a".into(), "mix#2".into(), 0),
                ("a".into(), "mix#2".into(), 1),
            ]
        );
    }
}
