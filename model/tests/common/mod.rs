//! Helpers shared by the model's integration tests.

use amt_model::optim::{Adam, AdamConfig, OptimizerKind, clip_grad_norm};
use amt_model::ymt3::Ymt3;
use tch::{Tensor, nn};

/// Trains `m` on one batch for `steps` AdamW steps at `lr` (clipping at 1.0); returns the
/// loss before and after.
pub fn overfit(
    m: &Ymt3,
    vs: &nn::VarStore,
    spec: &Tensor,
    labels: &Tensor,
    steps: usize,
    lr: f64,
) -> (f64, f64) {
    let params: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(_, t)| t.requires_grad())
        .collect();
    let mut opt = Adam::new(AdamConfig::yourmt3(OptimizerKind::AdamW));
    let first = m.forward(spec, labels, true).loss.double_value(&[]);
    let mut last = first;
    for _ in 0..steps {
        for (_, p) in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let f = m.forward(spec, labels, true);
        f.loss.backward();
        clip_grad_norm(&params, 1.0);
        opt.step(&params, lr);
        last = f.loss.double_value(&[]);
    }
    (first, last)
}
