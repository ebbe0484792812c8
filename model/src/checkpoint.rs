//! Training checkpoints: everything needed to continue exactly where a run stopped.
//!
//! A checkpoint is a folder `ckpt-<step>/` holding `model.safetensors` (the weights, by
//! YourMT3's names), `optimizer.safetensors` (each parameter's two moments), and
//! `state.json` (step, optimiser step, stream position, seed, learning rate, validation
//! metrics, and the blake3 of both tensor files). It is written into a temporary folder and
//! renamed into place, so a kill -9 during a save leaves the previous checkpoints intact;
//! loading checks the recorded hashes, so a corrupt or truncated checkpoint is an error naming
//! the file, and the caller falls back to the previous good one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

use crate::optim::{Adam, Moments};

pub const MODEL: &str = "model.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const STATE: &str = "state.json";

/// What a checkpoint records besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimiser steps taken.
    pub step: i64,
    /// Batches the training stream has delivered (to reopen it there).
    pub stream_position: u64,
    pub seed: u64,
    pub lr: f64,
    /// The last validation's metrics (`validation/macro_onset_f`...).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// blake3 of the tensor files, checked on load.
    #[serde(default)]
    pub hashes: BTreeMap<String, String>,
    /// What the weights are: the model configuration and its front-end (codec, hop, mel
    /// bins), so that a checkpoint alone is enough to transcribe.
    #[serde(default)]
    pub config: serde_json::Value,
}

/// Test hook: `AMT_FAULT=<name>` (`checkpoint-save-<step>`: with the weights half written) makes the process abort at fault point `<name>` (a kill -9
/// at a chosen moment, for the tests of what survives it).
pub fn fault_point(name: &str) {
    if std::env::var("AMT_FAULT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

fn hash(path: &Path) -> std::io::Result<String> {
    Ok(blake3::hash(&std::fs::read(path)?).to_hex().to_string())
}

fn io(e: impl std::fmt::Display, path: &Path) -> String {
    format!("checkpoint `{}`: {e}", path.display())
}

/// Writes a checkpoint of `vs` and `opt` as `dir` (which must not exist yet).
pub fn save(dir: &Path, vs: &nn::VarStore, opt: &Adam, state: &TrainState) -> Result<(), String> {
    let parent = dir.parent().ok_or_else(|| io("no parent folder", dir))?;
    std::fs::create_dir_all(parent).map_err(|e| io(e, parent))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| io(e, &tmp))?;
    let result = (|| -> Result<(), String> {
        vs.save(tmp.join(MODEL))
            .map_err(|e| io(e, &tmp.join(MODEL)))?;
        fault_point(&format!("checkpoint-save-{}", state.step));
        let mut moments: Vec<(String, Tensor)> = Vec::new();
        for (name, m) in &opt.state {
            moments.push((format!("{name}.exp_avg"), m.exp_avg.shallow_clone()));
            moments.push((format!("{name}.exp_avg_sq"), m.exp_avg_sq.shallow_clone()));
        }
        if moments.is_empty() {
            moments.push((
                "__empty".into(),
                Tensor::zeros([1], (tch::Kind::Float, tch::Device::Cpu)),
            ));
        }
        let refs: Vec<(&str, &Tensor)> = moments.iter().map(|(n, t)| (n.as_str(), t)).collect();
        Tensor::write_safetensors(&refs, tmp.join(OPTIMIZER))
            .map_err(|e| io(e, &tmp.join(OPTIMIZER)))?;
        let mut state = state.clone();
        state.step = state.step.max(0);
        for f in [MODEL, OPTIMIZER] {
            state.hashes.insert(
                f.to_string(),
                hash(&tmp.join(f)).map_err(|e| io(e, &tmp.join(f)))?,
            );
        }
        let json = serde_json::to_vec_pretty(&state).expect("state serializes");
        std::fs::write(tmp.join(STATE), json).map_err(|e| io(e, &tmp.join(STATE)))?;
        for f in [MODEL, OPTIMIZER, STATE] {
            std::fs::File::open(tmp.join(f))
                .and_then(|f| f.sync_all())
                .map_err(|e| io(e, &tmp.join(f)))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| io(e, dir))?;
        std::fs::File::open(parent)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(e, parent))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Reads a checkpoint's `state.json` only (no hashing: for ranking checkpoints).
pub fn read_state_unchecked(dir: &Path) -> Result<TrainState, String> {
    let state_path = dir.join(STATE);
    let bytes = std::fs::read(&state_path).map_err(|e| io(e, &state_path))?;
    serde_json::from_slice(&bytes).map_err(|e| io(format!("damaged: {e}"), &state_path))
}

/// Reads a checkpoint's state, checking its tensor files against their recorded hashes.
pub fn read_state(dir: &Path) -> Result<TrainState, String> {
    let state = read_state_unchecked(dir)?;
    for f in [MODEL, OPTIMIZER] {
        let p = dir.join(f);
        let want = state
            .hashes
            .get(f)
            .ok_or_else(|| io("records no hash for it", &p))?;
        let got = hash(&p).map_err(|e| io(e, &p))?;
        if &got != want {
            return Err(io(
                "its content changed since it was saved (corrupt or truncated)",
                &p,
            ));
        }
    }
    Ok(state)
}

/// Loads a checkpoint into `vs` and `opt` (after checking it).
pub fn load(dir: &Path, vs: &mut nn::VarStore, opt: &mut Adam) -> Result<TrainState, String> {
    let state = read_state(dir)?;
    vs.load(dir.join(MODEL))
        .map_err(|e| io(e, &dir.join(MODEL)))?;
    let tensors =
        Tensor::read_safetensors(dir.join(OPTIMIZER)).map_err(|e| io(e, &dir.join(OPTIMIZER)))?;
    let mut by_name: BTreeMap<String, Tensor> = tensors.into_iter().collect();
    opt.state.clear();
    let names: Vec<String> = by_name
        .keys()
        .filter_map(|k| k.strip_suffix(".exp_avg").map(str::to_string))
        .collect();
    for name in names {
        let exp_avg = by_name.remove(&format!("{name}.exp_avg")).expect("listed");
        let exp_avg_sq = by_name
            .remove(&format!("{name}.exp_avg_sq"))
            .ok_or_else(|| {
                io(
                    format!("no second moment for `{name}`"),
                    &dir.join(OPTIMIZER),
                )
            })?;
        let device = vs.device();
        opt.state.insert(
            name,
            Moments {
                exp_avg: exp_avg.to_device(device),
                exp_avg_sq: exp_avg_sq.to_device(device),
            },
        );
    }
    opt.step = state.step;
    Ok(state)
}

/// Checkpoint folders in `dir` (`ckpt-<step>`), newest first.
pub fn list(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let step = name.strip_prefix("ckpt-")?.parse().ok()?;
                    Some((step, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_by_key(|b| std::cmp::Reverse(b.0));
    out
}
