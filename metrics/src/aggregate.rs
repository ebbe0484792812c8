//! Dataset-level aggregation, as YourMT3's `AMTMetrics`: every key is a
//! (weighted) mean over files that ignores NaN, and micro P/R pairs become
//! `micro_onset_f_<class>` / `micro_offset_f_<class>`.

use std::collections::BTreeMap;

use crate::track::TrackMetrics;
use crate::util::f1_measure;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Mean {
    weighted_sum: f64,
    weight: f64,
}

/// Accumulates per-file metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricAggregator {
    means: BTreeMap<String, Mean>,
}

const MICRO_PREFIXES: [&str; 2] = ["micro_onset", "micro_offset"];

impl MetricAggregator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one value with weight 1.
    pub fn update(&mut self, key: &str, value: f64) {
        self.update_weighted(key, value, 1.0);
    }

    /// Adds one weighted value. NaN values (or weights) are ignored, but the
    /// key still appears in [`compute`](Self::compute) (as NaN if it never
    /// got a number), as torchmetrics' MeanMetric with `nan_strategy=ignore`.
    pub fn update_weighted(&mut self, key: &str, value: f64, weight: f64) {
        let m = self.means.entry(key.to_string()).or_default();
        if value.is_nan() || weight.is_nan() {
            return;
        }
        m.weighted_sum += value * weight;
        m.weight += weight;
    }

    /// Adds all of one track's metrics.
    pub fn add_track(&mut self, metrics: &TrackMetrics) {
        for (k, v) in &metrics.values {
            self.update(k, *v);
        }
        for (k, w) in &metrics.weighted {
            self.update_weighted(k, w.value, w.weight);
        }
    }

    /// Number of keys seen so far.
    pub fn len(&self) -> usize {
        self.means.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    /// Means per key; each micro P/R pair is replaced by its F
    /// (`f1_measure` of the weighted-mean P and R).
    pub fn compute(&self) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> = self
            .means
            .iter()
            .map(|(k, m)| (k.clone(), m.weighted_sum / m.weight))
            .collect();
        for prefix in MICRO_PREFIXES {
            let p_prefix = format!("{prefix}_p_");
            let classes: Vec<String> = out
                .keys()
                .filter_map(|k| k.strip_prefix(&p_prefix).map(str::to_string))
                .collect();
            for class in classes {
                let p = out[&format!("{prefix}_p_{class}")];
                if let Some(&r) = out.get(&format!("{prefix}_r_{class}")) {
                    out.insert(format!("{prefix}_f_{class}"), f1_measure(p, r));
                }
            }
        }
        out.retain(|k, _| {
            !MICRO_PREFIXES
                .iter()
                .any(|p| k.starts_with(&format!("{p}_p_")) || k.starts_with(&format!("{p}_r_")))
        });
        out
    }

    /// Forgets everything.
    pub fn reset(&mut self) {
        self.means.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_mean_ignores_nan_but_keeps_key() {
        let mut a = MetricAggregator::new();
        a.update("onset_f", 0.5);
        a.update("onset_f", f64::NAN);
        a.update("onset_f", 1.0);
        a.update("only_nan", f64::NAN);
        let c = a.compute();
        assert_eq!(c["onset_f"], 0.75);
        assert!(c["only_nan"].is_nan());
    }

    #[test]
    fn micro_f_from_weighted_p_and_r() {
        // File 1: P = 1.0 over 1 est note, R = 0.5 over 2 ref notes.
        // File 2: P = 0.0 over 3 est notes, R = NaN (no ref notes).
        // Micro P = (1*1 + 0*3) / 4 = 0.25; micro R = 0.5.
        let mut a = MetricAggregator::new();
        a.update_weighted("micro_onset_p_Bass", 1.0, 1.0);
        a.update_weighted("micro_onset_r_Bass", 0.5, 2.0);
        a.update_weighted("micro_onset_p_Bass", 0.0, 3.0);
        a.update_weighted("micro_onset_r_Bass", f64::NAN, 0.0);
        let c = a.compute();
        let want = 2.0 * 0.25 * 0.5 / 0.75;
        assert!((c["micro_onset_f_Bass"] - want).abs() < 1e-12);
        assert!(!c.contains_key("micro_onset_p_Bass"));
        assert!(!c.contains_key("micro_onset_r_Bass"));
    }
}
