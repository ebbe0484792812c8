//! Optimisers and learning-rate schedules (spec section 8).
//!
//! - `AdamWScale` (nanoT5, YourMT3's default, lr 1e-2): Adam moments with bias correction, and
//!   the step scaled by the parameter's RMS: `p -= lr * sqrt(1 - b2^t) / (1 - b1^t) *
//!   max(1e-3, rms(p)) * m / (sqrt(v) + eps)`, then decoupled weight decay `p -= lr * wd * p`.
//! - `AdamW` (torch's, lr 1e-3): the same without the RMS factor.
//! - Schedules: `cosine` (linear warm-up from 0.5 x lr to lr over `warmup` steps, then cosine
//!   to the absolute `final_lr` at `total` steps: torch's SequentialLR of LinearLR and
//!   CosineAnnealingLR), `constant`.
//!
//! State (step and moments per parameter) is kept by parameter name, so a checkpoint restores
//! it exactly.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    AdamWScale,
    AdamW,
}

impl OptimizerKind {
    pub fn parse(s: &str) -> Option<OptimizerKind> {
        match s.to_ascii_lowercase().as_str() {
            "adamwscale" => Some(OptimizerKind::AdamWScale),
            "adamw" => Some(OptimizerKind::AdamW),
            _ => None,
        }
    }

    /// YourMT3's default learning rate for the optimiser.
    pub fn default_lr(self) -> f64 {
        match self {
            OptimizerKind::AdamWScale => 1e-2,
            OptimizerKind::AdamW => 1e-3,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    pub kind: OptimizerKind,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamConfig {
    /// YourMT3's settings: betas (0.9, 0.999); AdamWScale eps 1e-6 and no weight decay, torch
    /// AdamW eps 1e-8 and weight decay 0.
    pub fn yourmt3(kind: OptimizerKind) -> AdamConfig {
        AdamConfig {
            kind,
            beta1: 0.9,
            beta2: 0.999,
            eps: match kind {
                OptimizerKind::AdamWScale => 1e-6,
                OptimizerKind::AdamW => 1e-8,
            },
            weight_decay: 0.0,
        }
    }
}

/// Moments of one parameter.
pub struct Moments {
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

/// Adam-family optimiser over named parameters.
pub struct Adam {
    pub cfg: AdamConfig,
    pub step: i64,
    pub state: BTreeMap<String, Moments>,
}

/// `sqrt(mean(p^2))`.
fn rms(p: &Tensor) -> f64 {
    let n = p.numel() as f64;
    (p.to_kind(Kind::Double)
        .square()
        .sum(Kind::Double)
        .double_value(&[])
        / n)
        .sqrt()
}

impl Adam {
    pub fn new(cfg: AdamConfig) -> Adam {
        Adam {
            cfg,
            step: 0,
            state: BTreeMap::new(),
        }
    }

    /// One update of every named parameter that has a gradient, at learning rate `lr`.
    pub fn step(&mut self, params: &[(String, Tensor)], lr: f64) {
        self.step += 1;
        let c = self.cfg;
        let t = self.step as f64;
        let bias = (1.0 - c.beta2.powf(t)).sqrt() / (1.0 - c.beta1.powf(t));
        tch::no_grad(|| {
            for (name, p) in params {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                let m = self.state.entry(name.clone()).or_insert_with(|| Moments {
                    exp_avg: p.zeros_like(),
                    exp_avg_sq: p.zeros_like(),
                });
                let _ = m
                    .exp_avg
                    .g_mul_scalar_(c.beta1)
                    .g_add_(&(&g * (1.0 - c.beta1)));
                let _ = m
                    .exp_avg_sq
                    .g_mul_scalar_(c.beta2)
                    .g_add_(&(g.square() * (1.0 - c.beta2)));
                let denom = m.exp_avg_sq.sqrt() + c.eps;
                let mut size = lr * bias;
                if c.kind == OptimizerKind::AdamWScale {
                    size *= rms(p).max(1e-3);
                }
                let mut p = p.shallow_clone();
                let _ = p.g_sub_(&(&m.exp_avg / &denom * size));
                if c.weight_decay > 0.0 {
                    let decay = &p * (lr * c.weight_decay);
                    let _ = p.g_sub_(&decay);
                }
            }
        });
    }
}

/// Scales gradients so that their global L2 norm is at most `max_norm`; returns the norm
/// before clipping.
pub fn clip_grad_norm(params: &[(String, Tensor)], max_norm: f64) -> f64 {
    tch::no_grad(|| {
        let mut sq = 0.0;
        for (_, p) in params {
            let g = p.grad();
            if g.defined() {
                sq += g
                    .to_kind(Kind::Double)
                    .square()
                    .sum(Kind::Double)
                    .double_value(&[]);
            }
        }
        let norm = sq.sqrt();
        if norm > max_norm && norm > 0.0 {
            let k = max_norm / (norm + 1e-6);
            for (_, p) in params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.g_mul_scalar_(k);
                }
            }
        }
        norm
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Cosine,
    Constant,
}

/// The learning rate at `step` (0-based, the step about to be taken).
pub fn learning_rate(
    schedule: Schedule,
    base: f64,
    step: i64,
    warmup: i64,
    total: i64,
    final_lr: f64,
) -> f64 {
    match schedule {
        Schedule::Constant => base,
        Schedule::Cosine => {
            if step < warmup {
                // torch LinearLR(start_factor=0.5, end_factor=1.0, total_iters=warmup).
                base * (0.5 + 0.5 * step as f64 / warmup as f64)
            } else {
                let t_max = (total - warmup).max(1) as f64;
                let t = ((step - warmup) as f64).min(t_max);
                final_lr
                    + (base - final_lr) * (1.0 + (std::f64::consts::PI * t / t_max).cos()) / 2.0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One AdamWScale step on a fixed tensor against the formula computed by hand.
    #[test]
    fn adamwscale_one_step_equals_the_formula() {
        let p = Tensor::from_slice(&[0.5f64, -2.0, 3.0]).set_requires_grad(true);
        let loss = (&p * Tensor::from_slice(&[1.0f64, 2.0, -1.0])).sum(Kind::Double);
        loss.backward();
        let mut opt = Adam::new(AdamConfig::yourmt3(OptimizerKind::AdamWScale));
        let lr = 1e-2;
        opt.step(&[("p".into(), p.shallow_clone())], lr);
        // Hand computation: g = (1, 2, -1); m = 0.1 g; v = 0.001 g^2;
        // bias = sqrt(1 - 0.999) / (1 - 0.9); rms = sqrt((0.25 + 4 + 9) / 3).
        let g = [1.0f64, 2.0, -1.0];
        let p0 = [0.5f64, -2.0, 3.0];
        let rms = ((0.25f64 + 4.0 + 9.0) / 3.0).sqrt();
        let bias = (1.0f64 - 0.999).sqrt() / (1.0 - 0.9);
        let got: Vec<f64> = Vec::<f64>::try_from(&p).unwrap();
        for i in 0..3 {
            let m = 0.1 * g[i];
            let v = 0.001 * g[i] * g[i];
            let want = p0[i] - lr * bias * rms * m / (v.sqrt() + 1e-6);
            assert!((got[i] - want).abs() < 1e-12, "{i}: {} vs {want}", got[i]);
        }
    }

    #[test]
    fn cosine_warms_up_then_decays_to_the_final_rate() {
        let lr = |s| learning_rate(Schedule::Cosine, 1e-2, s, 1000, 100_000, 1e-5);
        assert!((lr(0) - 5e-3).abs() < 1e-15);
        assert!((lr(500) - 7.5e-3).abs() < 1e-12);
        assert!((lr(1000) - 1e-2).abs() < 1e-15);
        assert!((lr(100_000) - 1e-5).abs() < 1e-15);
        assert!(lr(50_500) < 1e-2 && lr(50_500) > 1e-5);
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        (&p * &p).sum(Kind::Float).backward(); // grad = 2p = (6, 8), norm 10
        let params = vec![("p".to_string(), p.shallow_clone())];
        assert!((clip_grad_norm(&params, 1.0) - 10.0).abs() < 1e-5);
        let g: Vec<f32> = Vec::<f32>::try_from(p.grad()).unwrap();
        assert!(((g[0] * g[0] + g[1] * g[1]).sqrt() - 1.0).abs() < 1e-4);
    }
}
