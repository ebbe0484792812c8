//! The Perceiver-TF's feed-forward layers (`-ff`, spec section 7.2): `mlp`, `gmlp` and the
//! Mixtral-style `moe`, with the activations of `-act`.
//!
//! The MoE dispatches its tokens once: the (token, slot) assignments are sorted by expert and
//! gathered into one tensor, each expert runs its three projections on its contiguous slice,
//! and one weighted scatter-add brings the results back. No token is padded (routing in a real
//! model is far from balanced, and padding every expert to the busiest one's load cost 8x
//! here), and no expert scans the routing for its tokens ([`Moe::forward_looped`], the
//! Mixtral-style mask per expert, is the reference it is tested and benchmarked against).

use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

use crate::config::{Activation, FfType, PerceiverConfig};

impl Activation {
    pub fn apply(self, x: &Tensor) -> Tensor {
        match self {
            Activation::Gelu => x.gelu("none"),
            Activation::GeluNew => x.gelu("tanh"),
            Activation::Relu => x.relu(),
            Activation::Silu => x.silu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => x.sigmoid(),
        }
    }
}

/// nn.Linear initialised N(0, 0.02), bias 0 (the Perceiver's `_init_weights`).
pub fn linear02(p: nn::Path, inp: i64, out: i64, bias: bool) -> nn::Linear {
    nn::linear(
        p,
        inp,
        out,
        nn::LinearConfig {
            ws_init: Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            bs_init: bias.then_some(Init::Const(0.0)),
            bias,
        },
    )
}

/// One of the feed-forward layers.
#[derive(Debug)]
pub enum FeedForward {
    Mlp(Mlp),
    Gmlp(Gated),
    Moe(Moe),
}

impl FeedForward {
    pub fn new(p: nn::Path, d: i64, cfg: &PerceiverConfig) -> FeedForward {
        let hidden = d * cfg.ff_widening_factor;
        match cfg.ff_type {
            FfType::Mlp => FeedForward::Mlp(Mlp::new(p, d, hidden, cfg.hidden_act)),
            FfType::Gmlp => {
                FeedForward::Gmlp(Gated::new(p, d, hidden, cfg.hidden_act, cfg.dropout_rate))
            }
            FfType::Moe => FeedForward::Moe(Moe::new(
                p,
                d,
                hidden,
                cfg.moe_num_experts,
                cfg.moe_topk,
                cfg.hidden_act,
            )),
        }
    }

    /// (..., d) -> (..., d).
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            FeedForward::Mlp(m) => m.forward(x),
            FeedForward::Gmlp(g) => g.forward(x, train),
            FeedForward::Moe(m) => m.forward(x),
        }
    }
}

/// `mlp`: dense2(act(dense1 x)), with biases.
#[derive(Debug)]
pub struct Mlp {
    dense1: nn::Linear,
    dense2: nn::Linear,
    act: Activation,
}

impl Mlp {
    pub fn new(p: nn::Path, d: i64, hidden: i64, act: Activation) -> Mlp {
        Mlp {
            dense1: linear02(&p / "dense1", d, hidden, true),
            dense2: linear02(&p / "dense2", hidden, d, true),
            act,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.dense2
            .forward(&self.act.apply(&self.dense1.forward(x)))
    }
}

/// `gmlp`: dropout(w2(dropout(act(w1 x) * gate x))), no bias.
#[derive(Debug)]
pub struct Gated {
    w1: nn::Linear,
    gate: nn::Linear,
    w2: nn::Linear,
    act: Activation,
    dropout: f64,
}

impl Gated {
    pub fn new(p: nn::Path, d: i64, hidden: i64, act: Activation, dropout: f64) -> Gated {
        Gated {
            w1: linear02(&p / "w1", d, hidden, false),
            gate: linear02(&p / "gate", d, hidden, false),
            w2: linear02(&p / "w2", hidden, d, false),
            act,
            dropout,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.act.apply(&self.w1.forward(x)) * self.gate.forward(x);
        self.w2
            .forward(&h.dropout(self.dropout, train))
            .dropout(self.dropout, train)
    }
}

/// `moe`: a router picks `topk` of `experts` gated experts per token (softmax in float32 over
/// all experts, the chosen weights renormalised to sum 1); no token is dropped and there is
/// no auxiliary loss (as in YourMT3).
#[derive(Debug)]
pub struct Moe {
    router: nn::Linear,
    /// Per expert (`experts.{e}.{w1,gate,w2}`): w1 (activated) and gate d -> hidden, w2
    /// hidden -> d; (out, in) each.
    w1: Vec<Tensor>,
    w3: Vec<Tensor>,
    w2: Vec<Tensor>,
    topk: i64,
    act: Activation,
}

/// The routing of N tokens: for each token its `topk` experts and their renormalised weights.
#[derive(Debug)]
pub struct Routing {
    /// (N, k) int64.
    pub experts: Tensor,
    /// (N, k), in the input's kind.
    pub weights: Tensor,
}

impl Moe {
    pub fn new(p: nn::Path, d: i64, hidden: i64, experts: i64, topk: i64, act: Activation) -> Moe {
        let init = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let e = &p / "experts";
        let mut w1 = Vec::new();
        let mut w3 = Vec::new();
        let mut w2 = Vec::new();
        for i in 0..experts {
            w1.push((&e / i / "w1").var("weight", &[hidden, d], init));
            w2.push((&e / i / "w2").var("weight", &[d, hidden], init));
            w3.push((&e / i / "gate").var("weight", &[hidden, d], init));
        }
        Moe {
            router: linear02(&p / "gate", d, experts, false),
            w1,
            w3,
            w2,
            topk,
            act,
        }
    }

    pub fn num_experts(&self) -> i64 {
        self.w1.len() as i64
    }

    /// The router's choice for (N, d) tokens.
    pub fn route(&self, x: &Tensor) -> Routing {
        let logits = self.router.forward(x);
        let probs = logits.to_kind(Kind::Float).softmax(-1, Kind::Float);
        let (top, experts) = probs.topk(self.topk, -1, true, true);
        let top = &top / top.sum_dim_intlist(-1, true, Kind::Float);
        Routing {
            experts,
            weights: top.to_kind(x.kind()),
        }
    }

    /// (..., d) -> (..., d): one sort, one gather, a matmul chain per expert on its slice,
    /// one scatter-add.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let shape = x.size();
        let d = *shape.last().expect("(..., d)");
        let flat = x.reshape([-1, d]);
        let n = flat.size()[0];
        let r = self.route(&flat);
        let e = self.num_experts();
        let k = self.topk;
        // Assignments (token, slot) sorted by expert.
        let expert_of = r.experts.reshape([-1]);
        let (sorted_expert, order) = expert_of.sort(0, false);
        let token_of = order.divide_scalar_mode(k, "floor");
        let counts =
            Vec::<i64>::try_from(sorted_expert.bincount::<Tensor>(None, e)).expect("int64 counts");
        let xs = flat.index_select(0, &token_of);
        let mut outs = Vec::with_capacity(e as usize);
        let mut idle: Option<Tensor> = None;
        let mut start = 0;
        for (i, &c) in counts.iter().enumerate() {
            if c == 0 {
                // An expert no token chose still gets a (zero) gradient: under data
                // parallelism every rank must all-reduce the same gradients, whatever its
                // batch's routing.
                let z = (self.w1[i].sum(Kind::Float)
                    + self.w2[i].sum(Kind::Float)
                    + self.w3[i].sum(Kind::Float))
                    * 0.0;
                idle = Some(match idle {
                    Some(t) => t + z,
                    None => z,
                });
                continue;
            }
            let seg = xs.narrow(0, start, c);
            let h = self.act.apply(&seg.matmul(&self.w1[i].tr())) * seg.matmul(&self.w3[i].tr());
            outs.push(h.matmul(&self.w2[i].tr()));
            start += c;
        }
        let ys = Tensor::cat(&outs, 0);
        let weight = r.weights.reshape([-1]).index_select(0, &order);
        let y = Tensor::zeros([n, d], (x.kind(), x.device()))
            .index_add(0, &token_of, &(ys * weight.unsqueeze(1)))
            .view(shape.as_slice());
        match idle {
            Some(z) => y + z.to_kind(x.kind()),
            None => y,
        }
    }

    /// The same function, one expert at a time over the tokens routed to it (the reference
    /// for tests and the benchmark).
    pub fn forward_looped(&self, x: &Tensor) -> Tensor {
        let shape = x.size();
        let d = *shape.last().expect("(..., d)");
        let flat = x.reshape([-1, d]);
        let n = flat.size()[0];
        let r = self.route(&flat);
        let mut out = Tensor::zeros([n, d], (x.kind(), x.device()));
        for i in 0..self.num_experts() {
            let hit = r.experts.eq(i);
            let tokens = hit.any_dim(1, false).nonzero().view([-1]);
            if tokens.numel() == 0 {
                continue;
            }
            let xs = flat.index_select(0, &tokens);
            let y = (self.act.apply(&xs.matmul(&self.w1[i as usize].tr()))
                * xs.matmul(&self.w3[i as usize].tr()))
            .matmul(&self.w2[i as usize].tr());
            let w = (r.weights.index_select(0, &tokens)
                * hit.index_select(0, &tokens).to_kind(x.kind()))
            .sum_dim_intlist(1, true, x.kind());
            out = out.index_add(0, &tokens, &(y * w));
        }
        out.view(shape.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn moe(experts: i64, topk: i64) -> (nn::VarStore, Moe) {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Moe::new(vs.root() / "ff", 8, 16, experts, topk, Activation::Silu);
        (vs, m)
    }

    /// Routing by hand: softmax over the router's logits, the two largest, renormalised.
    #[test]
    fn routing_equals_a_hand_computation() {
        let (_vs, m) = moe(4, 2);
        let x = Tensor::randn([5, 8], (Kind::Float, Device::Cpu));
        let r = m.route(&x);
        let logits = Vec::<Vec<f32>>::try_from(m.router.forward(&x)).unwrap();
        let experts = Vec::<Vec<i64>>::try_from(&r.experts).unwrap();
        let weights = Vec::<Vec<f32>>::try_from(&r.weights).unwrap();
        for (t, row) in logits.iter().enumerate() {
            let max = row.iter().cloned().fold(f32::MIN, f32::max);
            let exp: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
            let total: f64 = exp.iter().sum();
            let mut idx: Vec<usize> = (0..row.len()).collect();
            idx.sort_by(|&a, &b| exp[b].total_cmp(&exp[a]));
            let (a, b) = (idx[0], idx[1]);
            assert_eq!(experts[t], vec![a as i64, b as i64]);
            let (pa, pb) = (exp[a] / total, exp[b] / total);
            assert!((f64::from(weights[t][0]) - pa / (pa + pb)).abs() < 1e-6);
            assert!((f64::from(weights[t][1]) - pb / (pa + pb)).abs() < 1e-6);
        }
    }

    /// The sorted dispatch computes what the per-expert masks do, values and gradients.
    #[test]
    fn sorted_dispatch_equals_the_per_expert_loop() {
        for (e, k) in [(8, 2), (4, 1), (3, 3)] {
            let (vs, m) = moe(e, k);
            let x = Tensor::randn([2, 7, 8], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let a = m.forward(&x);
            let b = m.forward_looped(&x);
            assert_eq!(a.size(), vec![2, 7, 8]);
            let diff = (&a - &b).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{e} experts top {k}: {diff}");
            let ga = Tensor::run_backward(
                &[a.sum(Kind::Float)],
                &vs.trainable_variables(),
                false,
                false,
            );
            let gb = Tensor::run_backward(
                &[b.sum(Kind::Float)],
                &vs.trainable_variables(),
                false,
                false,
            );
            for (x, y) in ga.iter().zip(&gb) {
                assert!((x - y).abs().max().double_value(&[]) < 1e-5);
            }
        }
    }

    /// Routing that sends every token to the same expert (the others idle) still matches.
    #[test]
    fn skewed_routing_equals_the_per_expert_loop() {
        let (_vs, m) = moe(4, 1);
        tch::no_grad(|| {
            let mut w = m.router.ws.shallow_clone();
            let _ = w.fill_(-1.0);
            let _ = w.get(2).fill_(1.0);
        });
        let x = Tensor::rand([9, 8], (Kind::Float, Device::Cpu)) + 1.0;
        let r = m.route(&x);
        assert!(r.experts.eq(2).all().int64_value(&[]) == 1);
        let diff = (m.forward(&x) - m.forward_looped(&x))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-6, "{diff}");
    }

    /// With one expert chosen per token and weight 1, a token's output is its expert's.
    #[test]
    fn a_token_gets_exactly_its_experts_output() {
        let (_vs, m) = moe(4, 1);
        let x = Tensor::randn([6, 8], (Kind::Float, Device::Cpu));
        let out = m.forward(&x);
        let experts = Vec::<i64>::try_from(m.route(&x).experts.view([-1])).unwrap();
        for (t, &e) in experts.iter().enumerate() {
            let xt = x.get(t as i64).unsqueeze(0);
            let e = e as usize;
            let want =
                (xt.matmul(&m.w1[e].tr()).silu() * xt.matmul(&m.w3[e].tr())).matmul(&m.w2[e].tr());
            let diff = (out.get(t as i64) - want.squeeze())
                .abs()
                .max()
                .double_value(&[]);
            assert!(diff < 1e-6);
        }
    }

    #[test]
    fn activations_match_their_definitions() {
        let x = Tensor::from_slice(&[-2.0f32, -0.5, 0.0, 0.7, 3.0]);
        let v = |a: &str| Vec::<f32>::try_from(Activation::parse(a).unwrap().apply(&x)).unwrap();
        let xs = [-2.0f64, -0.5, 0.0, 0.7, 3.0];
        for (i, &t) in xs.iter().enumerate() {
            assert!((f64::from(v("silu")[i]) - t / (1.0 + (-t).exp())).abs() < 1e-6);
            assert!((f64::from(v("relu")[i]) - t.max(0.0)).abs() < 1e-7);
            let tanh_gelu = 0.5
                * t
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (t + 0.044715 * t.powi(3))).tanh());
            assert!((f64::from(v("gelu_new")[i]) - tanh_gelu).abs() < 1e-6);
        }
        // Exact GELU differs from the tanh form away from 0.
        assert!((v("gelu")[0] - v("gelu_new")[0]).abs() > 1e-5);
        assert!(Activation::parse("mish").is_none());
    }
}
