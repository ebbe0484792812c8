//! Position information inside the Perceiver-TF's attention (spec section 7.2): rotary
//! embeddings (`rope`) and ALiBi biases (`alibi`, `alibit`).

use tch::nn::{self, Init};
use tch::{Device, Kind, Tensor};

/// How rotary positions are laid out along the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeKind {
    /// freqs 1/10000^(2i/dim), positions 0..L.
    Lang,
    /// freqs linspace(1, 5, dim/2)·π, positions linspace(-1, 1, L) (they depend on L).
    Pixel,
}

/// Interleaved-pair (GPT-J style) rotary embedding of the first `dim` features of each head.
#[derive(Debug)]
pub struct Rope {
    /// (dim / 2,), stored like YourMT3's non-trainable `freqs` parameter.
    freqs: Tensor,
    kind: RopeKind,
    dim: i64,
}

impl Rope {
    pub fn new(p: nn::Path, kind: RopeKind, dim: i64) -> Rope {
        let half = (dim / 2).max(1);
        let values: Vec<f32> = (0..half)
            .map(|i| match kind {
                RopeKind::Lang => 1.0 / 10000f64.powf((2 * i) as f64 / dim as f64),
                RopeKind::Pixel => {
                    let t = if half == 1 {
                        0.0
                    } else {
                        i as f64 / (half - 1) as f64
                    };
                    (1.0 + 4.0 * t) * std::f64::consts::PI
                }
            } as f32)
            .collect();
        let freqs = p.zeros_no_train("freqs", &[half]);
        tch::no_grad(|| {
            freqs
                .shallow_clone()
                .copy_(&Tensor::from_slice(&values).to_device(freqs.device()))
        });
        Rope { freqs, kind, dim }
    }

    pub fn dim(&self) -> i64 {
        self.dim
    }

    /// The positions of a sequence of `len`.
    fn positions(&self, len: i64, device: Device) -> Tensor {
        match self.kind {
            RopeKind::Lang => Tensor::arange(len, (Kind::Float, device)),
            RopeKind::Pixel => Tensor::linspace(-1.0, 1.0, len, (Kind::Float, device)),
        }
    }

    /// Rotates (B, H, L, dh) along L: the first `dim` features in interleaved pairs, the rest
    /// unchanged.
    pub fn rotate(&self, x: &Tensor) -> Tensor {
        let size = x.size();
        let (l, dh) = (size[size.len() - 2], size[size.len() - 1]);
        let r = self.dim.min(dh);
        let angles = self
            .positions(l, x.device())
            .unsqueeze(1)
            .matmul(&self.freqs.to_kind(Kind::Float).unsqueeze(0)); // (L, r/2)
        let angles = angles.repeat_interleave_self_int(2, Some(1), None); // (L, r)
        let (cos, sin) = (
            angles.cos().to_kind(x.kind()),
            angles.sin().to_kind(x.kind()),
        );
        let head = x.narrow(-1, 0, r);
        let pairs = head.unflatten(-1, [r / 2, 2]);
        let (a, b) = (pairs.select(-1, 0), pairs.select(-1, 1));
        let rotated_half = Tensor::stack(&[b.neg(), a], -1).flatten(-2, -1);
        let out = head * cos + rotated_half * sin;
        if r == dh {
            out
        } else {
            Tensor::cat(&[out, x.narrow(-1, r, dh - r)], -1)
        }
    }
}

/// ALiBi: a per-head bias −|j − (i + Lk − Lq)|·slope added to the attention scores before
/// their scaling (the query index aligned to the end of the keys, as YourMT3 does).
#[derive(Debug)]
pub struct Alibi {
    /// `alibit`: trainable pre-sigmoid slopes (H, 1, 1) (`alibi_bias.slopes`); `None`: the
    /// fixed geometric slopes (not part of the state dict, as in YourMT3).
    trainable: Option<Tensor>,
    heads: i64,
    /// YourMT3's `alibit` quirk: the distance reaches head 0 only (the others get 0).
    first_head_only: bool,
}

fn pow2_slopes(n: i64) -> Vec<f64> {
    let start = 2f64.powf(-8.0 / n as f64);
    (0..n).map(|i| start.powi(i as i32 + 1)).collect()
}

/// The fixed slopes of H heads: 2^(−8(i+1)/H) for a power of two; otherwise those of the
/// nearest lower power of two, then every other slope of the next one.
pub fn alibi_slopes(heads: i64) -> Vec<f32> {
    let lower = 1i64 << (63 - heads.max(1).leading_zeros() as i64);
    let mut out = pow2_slopes(lower);
    if lower < heads {
        out.extend(
            pow2_slopes(2 * lower)
                .into_iter()
                .step_by(2)
                .take((heads - lower) as usize),
        );
    }
    out.into_iter().map(|v| v as f32).collect()
}

impl Alibi {
    /// Fixed slopes (`alibi`).
    pub fn fixed(heads: i64) -> Alibi {
        Alibi {
            trainable: None,
            heads,
            first_head_only: false,
        }
    }

    /// Trainable slopes σ(s), s ~ N(−2, 1) (`alibit`), at `p / "slopes"`.
    pub fn trainable(p: nn::Path, heads: i64, first_head_only: bool) -> Alibi {
        Alibi {
            trainable: Some(p.var(
                "slopes",
                &[heads, 1, 1],
                Init::Randn {
                    mean: -2.0,
                    stdev: 1.0,
                },
            )),
            heads,
            first_head_only,
        }
    }

    /// (1, H, Lq, Lk) bias.
    pub fn bias(&self, lq: i64, lk: i64, device: Device, kind: Kind) -> Tensor {
        let i = Tensor::arange(lq, (Kind::Float, device)).unsqueeze(1) + (lk - lq) as f64;
        let j = Tensor::arange(lk, (Kind::Float, device)).unsqueeze(0);
        let dist = (j - i).abs().neg().unsqueeze(0); // (1, Lq, Lk)
        let b = match &self.trainable {
            Some(s) => {
                let dist = if self.first_head_only {
                    let zeros = Tensor::zeros([self.heads - 1, lq, lk], (Kind::Float, device));
                    Tensor::cat(&[dist, zeros], 0)
                } else {
                    dist
                };
                s.to_device(device).sigmoid() * dist
            }
            None => {
                let slopes = Tensor::from_slice(&alibi_slopes(self.heads)).to_device(device);
                slopes.view([-1, 1, 1]) * dist
            }
        };
        b.unsqueeze(0).to_kind(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rope(kind: RopeKind, dim: i64) -> (nn::VarStore, Rope) {
        let vs = nn::VarStore::new(Device::Cpu);
        let r = Rope::new(vs.root() / "rope", kind, dim);
        (vs, r)
    }

    /// q·k after rotating both depends only on their distance (lang positions).
    #[test]
    fn rope_scores_depend_only_on_relative_position() {
        let (_vs, r) = rope(RopeKind::Lang, 16);
        tch::manual_seed(1);
        let q = Tensor::randn([1, 1, 1, 16], (Kind::Double, Device::Cpu));
        let k = Tensor::randn([1, 1, 1, 16], (Kind::Double, Device::Cpu));
        // The same q and k at every position of a sequence of 12.
        let qs = r.rotate(&q.expand([1, 1, 12, 16], false).to_kind(Kind::Float));
        let ks = r.rotate(&k.expand([1, 1, 12, 16], false).to_kind(Kind::Float));
        let s = qs.matmul(&ks.transpose(-1, -2)).squeeze(); // (12, 12)
        for d in 0..5 {
            let a = s.double_value(&[2, 2 + d]);
            let b = s.double_value(&[7, 7 + d]);
            assert!((a - b).abs() < 1e-4, "offset {d}: {a} vs {b}");
        }
        // And it does depend on the distance.
        assert!((s.double_value(&[2, 2]) - s.double_value(&[2, 5])).abs() > 1e-3);
    }

    /// Rotation keeps norms; partial rotation leaves the rest of the head as it was.
    #[test]
    fn rope_is_a_rotation_of_the_first_dims_only() {
        let (_vs, r) = rope(RopeKind::Pixel, 4);
        let x = Tensor::randn([2, 3, 5, 16], (Kind::Float, Device::Cpu));
        let y = r.rotate(&x);
        let n = |t: &Tensor| {
            t.narrow(-1, 0, 4)
                .square()
                .sum_dim_intlist(-1, false, Kind::Float)
        };
        assert!((n(&x) - n(&y)).abs().max().double_value(&[]) < 1e-5);
        assert!(
            (x.narrow(-1, 4, 12) - y.narrow(-1, 4, 12))
                .abs()
                .max()
                .double_value(&[])
                == 0.0
        );
        // Pixel positions run over [-1, 1]: the first one rotates by -π per unit frequency.
        let v = Vec::<f32>::try_from(&r.freqs).unwrap();
        assert!((v[0] - std::f32::consts::PI).abs() < 1e-6);
        assert!((v[1] - 5.0 * std::f32::consts::PI).abs() < 1e-5);
        let (_vs, l) = rope(RopeKind::Lang, 8);
        let v = Vec::<f32>::try_from(&l.freqs).unwrap();
        for (a, b) in v.iter().zip([1.0, 0.1, 0.01, 0.001]) {
            assert!((a - b).abs() < 1e-7);
        }
    }

    /// ALiBi's bias matrix: −|i − j|·slope, slopes 2^(−8(h+1)/H); queries aligned to the
    /// end of longer keys; non-powers of two as the ALiBi paper's reference.
    #[test]
    fn alibi_bias_matrix() {
        let a = Alibi::fixed(8);
        let b = a.bias(4, 4, Device::Cpu, Kind::Float);
        assert_eq!(b.size(), vec![1, 8, 4, 4]);
        for h in 0..8 {
            let slope = 2f64.powf(-((h + 1) as f64));
            for i in 0..4 {
                for j in 0..4 {
                    let want = -((i - j) as f64).abs() * slope;
                    assert!((b.double_value(&[0, h, i, j]) - want).abs() < 1e-7);
                }
            }
        }
        // Two queries over five keys: query 0 sits at key 3.
        let b = a.bias(2, 5, Device::Cpu, Kind::Float);
        assert_eq!(b.double_value(&[0, 0, 0, 3]), 0.0);
        assert_eq!(b.double_value(&[0, 0, 1, 4]), 0.0);
        assert_eq!(b.double_value(&[0, 0, 0, 0]), -1.5);
        let six = alibi_slopes(6);
        let want = [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125];
        for (a, b) in six.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-9, "{six:?}");
        }
        let vs = nn::VarStore::new(Device::Cpu);
        let t = Alibi::trainable(vs.root(), 8, false);
        assert_eq!(vs.trainable_variables().len(), 1);
        let b = t.bias(3, 3, Device::Cpu, Kind::Float);
        // Slopes σ(s) lie in (0, 1): the diagonal is 0, off it negative, on every head.
        assert_eq!(b.double_value(&[0, 5, 1, 1]), 0.0);
        assert!(b.double_value(&[0, 5, 0, 2]) < 0.0);
        // YourMT3's quirk: only head 0 sees distances.
        let q = Alibi::trainable(vs.root() / "q", 8, true);
        let b = q.bias(3, 3, Device::Cpu, Kind::Float);
        assert!(b.double_value(&[0, 0, 0, 2]) < 0.0);
        assert_eq!(b.double_value(&[0, 5, 0, 2]), 0.0);
    }
}
