//! YourMT3's data presets (`config/data_presets.py`), by the same names, as data
//! (`presets.toml`, bundled): single presets (one dataset and its split lists) and multi presets
//! (single presets with sampling weights). A preset resolves to its members; what a member's
//! share of training is follows YourMT3's sampler (`amt_model::stream::dataset_probabilities`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The bundled presets.
pub const BUNDLED: &str = include_str!("presets.toml");

/// One dataset and its split lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinglePreset {
    pub dataset: String,
    /// Split lists merged for training, in order (a list named twice is oversampled in the
    /// original); empty: the preset does not train.
    #[serde(default)]
    pub train: Vec<String>,
    pub validation: Option<String>,
    pub test: Option<String>,
    /// `None`: instrument-agnostic evaluation.
    pub eval_vocab: Option<String>,
    pub drum_vocab: Option<String>,
    #[serde(default)]
    pub pitch_class_metric: Vec<String>,
}

/// Single presets with sampling weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiPreset {
    pub presets: Vec<String>,
    /// Equal weights when absent.
    pub weights: Option<Vec<f64>>,
    /// Aligned with `presets`; "" = instrument-agnostic; absent = each member's own.
    pub eval_vocab: Option<Vec<String>>,
    pub drum_vocab: Option<String>,
    pub val_max_num_files: Option<usize>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presets {
    #[serde(default)]
    pub single: BTreeMap<String, SinglePreset>,
    #[serde(default)]
    pub multi: BTreeMap<String, MultiPreset>,
    /// Presets of the original that cannot be resolved, and why.
    #[serde(default)]
    pub dropped: BTreeMap<String, String>,
}

/// One member of a resolved preset: a single preset, its dataset, weight and evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Member {
    pub preset: String,
    pub dataset: String,
    pub weight: f64,
    pub train: Vec<String>,
    pub validation: Option<String>,
    pub test: Option<String>,
    pub eval_vocab: Option<String>,
    pub drum_vocab: Option<String>,
    pub pitch_class_metric: Vec<String>,
}

impl Member {
    /// A dataset that no preset names, read with its official splits (`train`,
    /// `validation`, `test`) and scored instrument-agnostic.
    pub fn plain(dataset: &str) -> Member {
        Member {
            preset: dataset.to_string(),
            dataset: dataset.to_string(),
            weight: 1.0,
            train: vec!["train".into()],
            validation: Some("validation".into()),
            test: Some("test".into()),
            eval_vocab: None,
            drum_vocab: None,
            pitch_class_metric: Vec::new(),
        }
    }
}

/// A preset resolved to its members.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolved {
    pub name: String,
    pub members: Vec<Member>,
    pub val_max_num_files: Option<usize>,
}

impl Presets {
    /// The bundled presets (checked by a test, so this cannot fail in a release).
    pub fn bundled() -> Presets {
        Presets::parse(BUNDLED).expect("the bundled presets parse and check")
    }

    /// Parses and checks presets: every multi preset names defined single presets, with as
    /// many weights and eval vocabularies as members, and no name is both single and multi.
    pub fn parse(text: &str) -> Result<Presets, String> {
        let p: Presets = toml::from_str(text).map_err(|e| format!("presets: {e}"))?;
        for (name, m) in &p.multi {
            if p.single.contains_key(name) {
                return Err(format!("preset `{name}` is both single and multi"));
            }
            if m.presets.is_empty() {
                return Err(format!("multi preset `{name}` has no members"));
            }
            for member in &m.presets {
                if !p.single.contains_key(member) {
                    return Err(format!(
                        "multi preset `{name}` names `{member}`, which is not a single preset"
                    ));
                }
            }
            for (what, n) in [
                ("weights", m.weights.as_ref().map(Vec::len)),
                ("eval_vocab", m.eval_vocab.as_ref().map(Vec::len)),
            ] {
                if let Some(n) = n.filter(|&n| n != m.presets.len()) {
                    return Err(format!(
                        "multi preset `{name}` has {n} {what} for {} members",
                        m.presets.len()
                    ));
                }
            }
            if m.weights
                .iter()
                .flatten()
                .any(|w| !w.is_finite() || *w < 0.0)
            {
                return Err(format!("multi preset `{name}` has a negative weight"));
            }
        }
        Ok(p)
    }

    /// All preset names: single, then multi.
    pub fn names(&self) -> Vec<&str> {
        self.single
            .keys()
            .chain(self.multi.keys())
            .map(String::as_str)
            .collect()
    }

    /// The members of preset `name` (a single preset is one member of weight 1).
    pub fn resolve(&self, name: &str) -> Result<Resolved, String> {
        let member =
            |preset: &str, weight: f64, eval: Option<Option<String>>, drums: Option<&String>| {
                let s = &self.single[preset];
                Member {
                    preset: preset.to_string(),
                    dataset: s.dataset.clone(),
                    weight,
                    train: s.train.clone(),
                    validation: s.validation.clone(),
                    test: s.test.clone(),
                    eval_vocab: eval.unwrap_or_else(|| s.eval_vocab.clone()),
                    drum_vocab: drums.cloned().or_else(|| s.drum_vocab.clone()),
                    pitch_class_metric: s.pitch_class_metric.clone(),
                }
            };
        if self.single.contains_key(name) {
            return Ok(Resolved {
                name: name.to_string(),
                members: vec![member(name, 1.0, None, None)],
                val_max_num_files: None,
            });
        }
        if let Some(m) = self.multi.get(name) {
            let n = m.presets.len();
            let members = m
                .presets
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let weight = m.weights.as_ref().map_or(1.0 / n as f64, |w| w[i]);
                    let eval = m
                        .eval_vocab
                        .as_ref()
                        .map(|v| Some(v[i].clone()).filter(|s| !s.is_empty()));
                    member(p, weight, eval, m.drum_vocab.as_ref())
                })
                .collect();
            return Ok(Resolved {
                name: name.to_string(),
                members,
                val_max_num_files: m.val_max_num_files,
            });
        }
        if let Some(why) = self.dropped.get(name) {
            return Err(format!("preset `{name}` is not available: it {why}"));
        }
        Err(format!("no preset named `{name}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_presets_check_and_resolve() {
        let p = Presets::bundled();
        let r = p.resolve("all_cross_final").unwrap();
        let names: Vec<&str> = r.members.iter().map(|m| m.preset.as_str()).collect();
        assert_eq!(
            names,
            [
                "slakh_final",
                "musicnet_thickstun_em",
                "mir_st500_voc",
                "enstdrums_dtp",
                "guitarset_progression_pshift",
                "egmd",
                "urmp",
                "maestro_final",
                "idmt_smt_bass",
                "cmedia_voc"
            ]
        );
        let weights: Vec<f64> = r.members.iter().map(|m| m.weight).collect();
        assert_eq!(
            weights,
            [0.295, 0.19, 0.191, 0.05, 0.01, 0.004, 0.1, 0.1, 0.01, 0.05]
        );
        assert_eq!(r.members[0].train, ["train", "validation"]);
        assert_eq!(r.members[0].eval_vocab, None);
        assert_eq!(r.members[2].eval_vocab.as_deref(), Some("SINGING_SOLO"));
        assert_eq!(r.members[3].drum_vocab.as_deref(), Some("ksh"));
        assert_eq!(r.val_max_num_files, Some(20));
        // A single preset is one member of weight 1; equal weights when none are given.
        let s = p.resolve("maestro").unwrap();
        assert_eq!((s.members.len(), s.members[0].weight), (1, 1.0));
        assert_eq!(s.members[0].eval_vocab.as_deref(), Some("PIANO_SOLO"));
        let e = p.resolve("geerdes_eval").unwrap();
        assert_eq!(e.members[0].weight, 0.5);
        // Dropped and unknown names say why.
        assert!(
            p.resolve("all_cross_stem")
                .unwrap_err()
                .contains("mir_st500_stem")
        );
        assert!(p.resolve("nope").unwrap_err().contains("no preset"));
    }

    #[test]
    fn broken_presets_are_named() {
        let bad = "[multi.x]\npresets = [\"y\"]\n";
        assert!(Presets::parse(bad).unwrap_err().contains("`y`"));
        let bad =
            "[single.a]\ndataset = \"d\"\n[multi.x]\npresets = [\"a\"]\nweights = [1.0, 2.0]\n";
        assert!(
            Presets::parse(bad)
                .unwrap_err()
                .contains("2 weights for 1 members")
        );
    }
}
