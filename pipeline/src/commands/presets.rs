//! `amt presets`: YourMT3's data presets, and what share of the training draws each member of
//! one gets with the tracks the store holds (or counts given with `--count`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use amt_cache::Slot;
use amt_stages::presets::{Member, Presets};
use serde_json::json;

use crate::cli::{PresetsArgs, PresetsCommand};
use crate::context::Context;

/// Every list of a dataset (from its current `splits`) and its tracks, or why not.
type Lists = Result<BTreeMap<String, std::collections::BTreeSet<String>>, String>;

fn dataset_lists(ctx: &Context, dataset: &str) -> Lists {
    let store = ctx.open_store().map_err(|e| e.to_string())?;
    let artifact = store
        .current_of(amt_stages::split::NAME, &Slot::dataset(dataset))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("`{dataset}` has no `splits` yet (amt run -d {dataset})"))?;
    amt_stages::split::read_lists(&artifact).map_err(|e| e.to_string())
}

/// A member's training files: counted from its dataset's lists, or why not.
fn count_train_files(m: &Member, lists: &Lists) -> Result<usize, String> {
    if m.train.is_empty() {
        return Ok(0);
    }
    let lists = lists.as_ref().map_err(Clone::clone)?;
    let mut n = 0;
    for list in &m.train {
        // A list named twice counts twice, as YourMT3's merged file list holds it twice.
        match lists.get(list) {
            Some(tracks) => n += tracks.len(),
            None => {
                return Err(format!(
                    "`{}` has no split list `{list}` (its adapter does not make it yet)",
                    m.dataset
                ));
            }
        }
    }
    Ok(n)
}

#[allow(clippy::print_stdout)]
pub fn presets(ctx: &Context, args: &PresetsArgs) -> anyhow::Result<ExitCode> {
    let presets = Presets::bundled();
    let Some(PresetsCommand::Show { name, count }) = &args.what else {
        if args.json {
            let out = json!({
                "single": presets.single.keys().collect::<Vec<_>>(),
                "multi": presets.multi.keys().collect::<Vec<_>>(),
                "dropped": presets.dropped,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            println!("single presets (one dataset):");
            for (n, s) in &presets.single {
                println!("  {n:<32} {}", s.dataset);
            }
            println!("multi presets (weighted single presets):");
            for (n, m) in &presets.multi {
                println!("  {n:<32} {}", m.presets.join(", "));
            }
            println!("not available (broken in the original):");
            for (n, why) in &presets.dropped {
                println!("  {n:<32} {why}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    };
    let resolved = presets.resolve(name).map_err(anyhow::Error::msg)?;
    let mut given: BTreeMap<String, usize> = BTreeMap::new();
    for c in count {
        let (k, v) = c
            .split_once('=')
            .and_then(|(k, v)| Some((k.to_string(), v.trim().parse::<usize>().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("--count {c}: expected PRESET=N"))?;
        if !resolved.members.iter().any(|m| m.preset == k) {
            anyhow::bail!("--count {c}: `{k}` is not a member of `{name}`");
        }
        given.insert(k, v);
    }
    let mut lists_of: BTreeMap<String, Lists> = BTreeMap::new();
    let counts: Vec<Result<usize, String>> = resolved
        .members
        .iter()
        .map(|m| match given.get(&m.preset) {
            Some(&n) => Ok(n),
            None => {
                // Each dataset's lists are read once, however many members use them.
                let lists = lists_of
                    .entry(m.dataset.clone())
                    .or_insert_with(|| dataset_lists(ctx, &m.dataset));
                count_train_files(m, lists)
            }
        })
        .collect();
    // Shares need every member's count (YourMT3's weights depend on all of them).
    let probabilities: Option<Vec<f64>> = counts
        .iter()
        .map(|c| c.as_ref().ok().copied())
        .collect::<Option<Vec<usize>>>()
        .map(|n| {
            let w: Vec<f64> = resolved.members.iter().map(|m| m.weight).collect();
            amt_model::stream::dataset_probabilities(&w, &n)
        });
    let members: Vec<serde_json::Value> = resolved
        .members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            json!({
                "preset": m.preset,
                "dataset": m.dataset,
                "weight": m.weight,
                "train": m.train,
                "validation": m.validation,
                "test": m.test,
                "eval_vocab": m.eval_vocab,
                "drum_vocab": m.drum_vocab,
                "train_files": counts[i].as_ref().ok(),
                "why_no_count": counts[i].as_ref().err(),
                "probability": probabilities.as_ref().map(|p| p[i]),
            })
        })
        .collect();
    if args.json {
        let out = json!({
            "name": resolved.name,
            "members": members,
            "val_max_num_files": resolved.val_max_num_files,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<30} {:<14} {:>7} {:>11} {:>8}  train lists / validation / test / eval vocab",
        "preset", "dataset", "weight", "train files", "share"
    );
    for (i, m) in resolved.members.iter().enumerate() {
        let files = match &counts[i] {
            Ok(n) => n.to_string(),
            Err(_) => "?".into(),
        };
        let share = probabilities
            .as_ref()
            .map_or("?".to_string(), |p| format!("{:.1} %", 100.0 * p[i]));
        println!(
            "{:<30} {:<14} {:>7} {:>11} {:>8}  {} / {} / {} / {}",
            m.preset,
            m.dataset,
            m.weight,
            files,
            share,
            if m.train.is_empty() {
                "-".to_string()
            } else {
                m.train.join("+")
            },
            m.validation.as_deref().unwrap_or("-"),
            m.test.as_deref().unwrap_or("-"),
            m.eval_vocab.as_deref().unwrap_or("(any instrument)")
        );
    }
    for (i, m) in resolved.members.iter().enumerate() {
        if let Err(why) = &counts[i] {
            println!("note: {}: {why}", m.preset);
        }
    }
    if probabilities.is_none() {
        println!("shares need every member's training files: build them, or give --count PRESET=N");
    }
    Ok(ExitCode::SUCCESS)
}
