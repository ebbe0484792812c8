//! The configuration file (`amt.toml`): a section per stage, per-dataset folders and per-dataset
//! stage overrides. Defaults are each stage's own (YourMT3's); each stage hashes only its own
//! resolved section into its key, so editing one section rebuilds that stage and its
//! descendants only.
//!
//! ```toml
//! [stage.extract]
//! include_hidden = false
//!
//! [dataset.maestro]
//! folder = "/mnt/data/maestro-v3.0.0"
//!
//! [dataset.maestro.stage.extract]
//! include_hidden = true
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::graph::Graph;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub stage: BTreeMap<String, toml::Table>,
    #[serde(default)]
    pub dataset: BTreeMap<String, DatasetConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// The dataset's local folder; relative paths are relative to the config file.
    pub folder: Option<PathBuf>,
    /// The adapter reading the dataset (`slakh`, `maestro`, `guitarset`), when its name does
    /// not imply one: `adapter = "guitarset"`, or a table `[dataset.D.adapter]` with `name`
    /// (optional) and the adapter's own options.
    pub adapter: Option<AdapterSetting>,
    #[serde(default)]
    pub stage: BTreeMap<String, toml::Table>,
}

/// `[dataset.D] adapter = "..."`, or `[dataset.D.adapter]` with options.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum AdapterSetting {
    Name(String),
    Table {
        name: Option<String>,
        #[serde(flatten)]
        options: BTreeMap<String, toml::Value>,
    },
}

/// The configuration in force: the file (if any) checked against the stage graph.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub file: ConfigFile,
    pub path: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the configuration file `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the configuration file `{path}` is not valid: {reason}")]
    Parse { path: PathBuf, reason: String },
}

impl Config {
    /// Loads `path`; `None` means defaults only.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut file: ConfigFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for ds in file.dataset.values_mut() {
            if let Some(f) = &ds.folder
                && f.is_relative()
            {
                ds.folder = Some(base.join(f));
            }
        }
        Ok(Config {
            file,
            path: Some(path.to_owned()),
        })
    }

    /// Checks stage names and every section against the stages' own config types.
    pub fn validate(&self, graph: &Graph) -> Result<(), ConfigError> {
        let err = |reason: String| ConfigError::Parse {
            path: self.path.clone().unwrap_or_default(),
            reason,
        };
        let mut sections: Vec<(&str, Option<&str>)> =
            self.file.stage.keys().map(|s| (s.as_str(), None)).collect();
        for (ds, d) in &self.file.dataset {
            amt_stages::dataset::validate_name(ds).map_err(err)?;
            sections.extend(d.stage.keys().map(|s| (s.as_str(), Some(ds.as_str()))));
        }
        for (stage, ds) in sections {
            let s = graph.get(stage).map_err(|e| err(e.to_string()))?;
            let resolved = self.resolve(graph, stage, ds.unwrap_or("-"));
            s.check_config(&resolved).map_err(|e| err(e.to_string()))?;
        }
        Ok(())
    }

    /// The adapter configured for a dataset: `[dataset.D] adapter`, else (the first place it
    /// could be set) a non-`auto` `adapter` of `[dataset.D.stage.notes]` or `[stage.notes]`.
    pub fn dataset_adapter(&self, dataset: &str) -> Option<String> {
        let d = self.file.dataset.get(dataset);
        let from_notes = |t: Option<&toml::Table>| {
            t.and_then(|t| t.get("adapter"))
                .and_then(|v| v.as_str())
                .filter(|a| *a != "auto")
                .map(str::to_string)
        };
        d.and_then(|d| match &d.adapter {
            Some(AdapterSetting::Name(n)) => Some(n.clone()),
            Some(AdapterSetting::Table { name, .. }) => name.clone(),
            None => None,
        })
        .or_else(|| from_notes(d.and_then(|d| d.stage.get("notes"))))
        .or_else(|| from_notes(self.file.stage.get("notes")))
    }

    /// The adapter options of `[dataset.D.adapter]`, as text (`true`, `3`, `name`).
    pub fn dataset_adapter_options(&self, dataset: &str) -> BTreeMap<String, String> {
        match self
            .file
            .dataset
            .get(dataset)
            .and_then(|d| d.adapter.as_ref())
        {
            Some(AdapterSetting::Table { options, .. }) => options
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The folder configured for a dataset, if any.
    pub fn dataset_folder(&self, dataset: &str) -> Option<&Path> {
        self.file.dataset.get(dataset)?.folder.as_deref()
    }

    /// Stage defaults, then `[stage.NAME]`, then `[dataset.D.stage.NAME]`, merged key by key.
    pub fn resolve(&self, graph: &Graph, stage: &str, dataset: &str) -> Value {
        let mut value = graph
            .get(stage)
            .map(|s| s.default_config())
            .unwrap_or(Value::Object(Default::default()));
        if let Some(t) = self.file.stage.get(stage) {
            merge(&mut value, toml_to_json(t));
        }
        if let Some(t) = self
            .file
            .dataset
            .get(dataset)
            .and_then(|d| d.stage.get(stage))
        {
            merge(&mut value, toml_to_json(t));
        }
        value
    }
}

fn toml_to_json(t: &toml::Table) -> Value {
    serde_json::to_value(t).expect("TOML values convert to JSON")
}

/// Deep-merges `over` into `base`: objects key by key, anything else replaced.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Field-by-field differences between two configs: `path: old -> new`.
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_into("", old, new, &mut out);
    out
}

fn diff_into(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_into(&p, x, y, out),
                    (Some(x), None) => out.push(format!("{p}: {x} -> (removed)")),
                    (None, Some(y)) => out.push(format!("{p}: (absent) -> {y}")),
                    (None, None) => {}
                }
            }
        }
        (a, b) if a != b => out.push(format!("{prefix}: {a} -> {b}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_and_diff() {
        let mut base = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge(&mut base, json!({"b": {"d": 4}, "e": true}));
        assert_eq!(base, json!({"a": 1, "b": {"c": 2, "d": 4}, "e": true}));
        assert_eq!(
            diff(
                &json!({"a": 1, "b": {"c": 2}}),
                &json!({"a": 1, "b": {"c": 5}, "x": 0})
            ),
            vec!["b.c: 2 -> 5".to_string(), "x: (absent) -> 0".to_string()]
        );
    }
}
