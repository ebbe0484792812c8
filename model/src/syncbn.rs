//! Batch normalisation synchronised over data-parallel ranks (YourMT3's `-sb 1`, PyTorch's
//! `SyncBatchNorm`), with exact gradients and no custom autograd function.
//!
//! Forward: each BatchNorm layer sums x and x^2 per channel, the sums are added over the ranks,
//! and the layer normalises with the global mean and variance. The other ranks' part of each sum
//! enters the graph as a leaf tensor `c` (a constant to autograd here). That gives each rank the
//! gradient of its own loss through the global statistics, but not the other ranks' share: the
//! gradient of rank k's loss with respect to the statistics also depends on x here.
//!
//! Backward ([`SyncBn::backward`]):
//! 1. One backward pass gives `a = dL_r/dS1` and `b = dL_r/dS2` at every layer: the gradients
//!    of the `c` leaves.
//! 2. Going down the layers, `a` and `b` are summed over the ranks (A, B). The missing gradient
//!    at the layer's input is `(A - a) + 2 x (B - b)`. It is propagated to the `c` leaves of the
//!    layers below, which completes their own `a` and `b` before their turn.
//! 3. A final backward of `loss + sum_l <x_l, delta_l>` puts the exact gradient into every
//!    parameter, as `SyncBatchNorm`'s backward does with its all-reduced `sum_dy` and
//!    `sum_dy_xmu`.
//!
//! The running statistics are updated from the global mean and the unbiased global variance,
//! identically on every rank.

#![allow(clippy::assign_op_pattern)]

use std::cell::RefCell;

use tch::{Kind, Tensor, nn};

/// Sums a tensor over all ranks, in place.
pub type Reducer<'a> = &'a dyn Fn(&Tensor) -> Result<(), String>;

const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// The shape that broadcasts a per-channel vector over `x` (B, C, ...): (1, C, 1, ...).
fn per_channel(x: &Tensor) -> Vec<i64> {
    let c = x.size()[1];
    (0..x.dim() as i64)
        .map(|d| if d == 1 { c } else { 1 })
        .collect()
}

/// What one synchronised layer kept for the backward pass.
struct Record {
    x: Tensor,
    c1: Tensor,
    c2: Tensor,
}

/// One training step's synchronisation of a model's BatchNorm layers: pass it to the forward
/// pass, then call [`SyncBn::backward`] instead of `loss.backward()`.
pub struct SyncBn<'a> {
    reduce: Reducer<'a>,
    tape: RefCell<Vec<Record>>,
    /// A collective that failed in the forward pass, reported by the backward pass.
    failed: RefCell<Option<String>>,
}

impl<'a> SyncBn<'a> {
    pub fn new(reduce: Reducer<'a>) -> SyncBn<'a> {
        SyncBn {
            reduce,
            tape: RefCell::new(Vec::new()),
            failed: RefCell::new(None),
        }
    }

    /// `bn` applied to `x` (B, C, ...) in training mode, with the statistics of all ranks.
    pub fn forward(&self, bn: &nn::BatchNorm, x: &Tensor) -> Tensor {
        let reduce = self.reduce;
        let c = x.size()[1];
        let dims: Vec<i64> = (0..x.dim() as i64).filter(|&d| d != 1).collect();
        let shape = per_channel(x);
        // Sums in float64: E[x^2] - E[x]^2 loses digits in float32.
        let xd = x.to_kind(Kind::Double);
        let s1 = xd.sum_dim_intlist(dims.as_slice(), false, Kind::Double);
        let s2 = (&xd * &xd).sum_dim_intlist(dims.as_slice(), false, Kind::Double);
        let n_local = (x.numel() as i64 / c) as f64;
        let stats = Tensor::cat(
            &[
                s1.detach(),
                s2.detach(),
                Tensor::from_slice(&[n_local]).to_device(x.device()),
            ],
            0,
        );
        if let Err(e) = reduce(&stats) {
            // The ranks are out of step: finish this pass locally, fail the backward.
            *self.failed.borrow_mut() = Some(format!("synchronised BatchNorm: {e}"));
            return nn::ModuleT::forward_t(bn, x, true);
        }
        let n = stats.double_value(&[2 * c]);
        let c1 = (stats.narrow(0, 0, c) - s1.detach())
            .detach()
            .set_requires_grad(true);
        let c2 = (stats.narrow(0, c, c) - s2.detach())
            .detach()
            .set_requires_grad(true);
        let mean = (&s1 + &c1) / n;
        let var = (&s2 + &c2) / n - mean.square();
        let scale = (&var + EPS).rsqrt().to_kind(x.kind());
        let mut y =
            (x - mean.to_kind(x.kind()).view(shape.as_slice())) * scale.view(shape.as_slice());
        if let Some(w) = &bn.ws {
            y = y * w.view(shape.as_slice());
        }
        if let Some(b) = &bn.bs {
            y = y + b.view(shape.as_slice());
        }
        tch::no_grad(|| {
            let m = mean.detach().to_kind(bn.running_mean.kind());
            let v = (var.detach() * (n / (n - 1.0).max(1.0))).to_kind(bn.running_var.kind());
            let mut rm = bn.running_mean.shallow_clone();
            let mut rv = bn.running_var.shallow_clone();
            rm.copy_(&(&bn.running_mean * (1.0 - MOMENTUM) + m * MOMENTUM));
            rv.copy_(&(&bn.running_var * (1.0 - MOMENTUM) + v * MOMENTUM));
        });
        self.tape.borrow_mut().push(Record {
            x: x.shallow_clone(),
            c1,
            c2,
        });
        y
    }

    /// `loss.backward()`, completed with the other ranks' share of every synchronised layer's
    /// statistics gradient (see the module doc). Without synchronised layers in this forward
    /// pass it is a plain backward.
    pub fn backward(&self, loss: &Tensor) -> Result<(), String> {
        if let Some(e) = self.failed.borrow_mut().take() {
            return Err(e);
        }
        let tape = std::mem::take(&mut *self.tape.borrow_mut());
        let reduce = self.reduce;
        if tape.is_empty() {
            loss.backward();
            return Ok(());
        }
        let leaves: Vec<&Tensor> = tape.iter().flat_map(|r| [&r.c1, &r.c2]).collect();
        let mut grads = Tensor::run_backward(&[loss], &leaves, true, false);
        let mut extra = loss.shallow_clone();
        for l in (0..tape.len()).rev() {
            let r = &tape[l];
            let (a, b) = (&grads[2 * l], &grads[2 * l + 1]);
            let sums = Tensor::cat(&[a, b], 0);
            reduce(&sums)?;
            let c = a.size()[0];
            let shape = per_channel(&r.x);
            let da = (sums.narrow(0, 0, c) - a).view(shape.as_slice());
            let db = (sums.narrow(0, c, c) - b).view(shape.as_slice());
            let delta = (da + r.x.detach().to_kind(Kind::Double) * db * 2.0).to_kind(r.x.kind());
            let push = (&r.x * &delta).sum(Kind::Double);
            if l > 0 {
                let below = &leaves[..2 * l];
                let more = Tensor::run_backward(&[&push], below, true, false);
                for (g, m) in grads.iter_mut().zip(more) {
                    *g = &*g + m;
                }
            }
            extra = extra + push.to_kind(loss.kind());
        }
        extra.backward();
        Ok(())
    }
}
