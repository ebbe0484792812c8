//! T5 stacks as YourMT3 modifies them (`amt/src/model/t5mod.py` at luck058/YourMT3 `710a835`,
//! spec section 7.1): pre-norm blocks with RMS layer norms (T5LayerNorm), attention without the
//! 1/sqrt(d) scaling and without relative position bias, a gated-GELU feed-forward
//! (T5DenseGatedActDense, `gelu_new`), and fixed sinusoidal positions added to the input
//! (Marian style: sines in the first half of the vector, cosines in the second). Parameter
//! paths are the PyTorch module paths, so YourMT3's state dicts load by name:
//! `block.{i}.layer.0.SelfAttention.{q,k,v,o}.weight`, `block.{i}.layer.{0,1,2}.layer_norm.weight`,
//! `block.{i}.layer.1.EncDecAttention.*` (decoder), `block.{i}.layer.{1,2}.DenseReluDense.{wi_0,
//! wi_1,wo}.weight`, `final_layer_norm.weight`, `additive_pe.weight` (not trainable).

use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

use crate::config::T5Config;

/// T5LayerNorm: RMS normalisation without mean or bias, computed in float32.
#[derive(Debug)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(p: nn::Path, d: i64, eps: f64) -> RmsNorm {
        RmsNorm {
            weight: p.var("weight", &[d], Init::Const(1.0)),
            eps,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let kind = x.kind();
        let xf = x.to_kind(Kind::Float);
        let var = xf.square().mean_dim(-1, true, Kind::Float);
        let y = xf * (var + self.eps).rsqrt();
        (y * &self.weight).to_kind(kind)
    }
}

fn linear(p: nn::Path, inp: i64, out: i64, stdev: f64) -> nn::Linear {
    nn::linear(
        p,
        inp,
        out,
        nn::LinearConfig {
            ws_init: Init::Randn { mean: 0.0, stdev },
            bias: false,
            ..Default::default()
        },
    )
}

/// Cached keys and values of one attention layer (decoder self-attention while generating).
#[derive(Debug, Default)]
pub struct KvCache {
    pub k: Option<Tensor>,
    pub v: Option<Tensor>,
}

/// T5Attention (no relative bias, no scaling).
#[derive(Debug)]
pub struct Attention {
    q: nn::Linear,
    k: nn::Linear,
    v: nn::Linear,
    o: nn::Linear,
    heads: i64,
    d_kv: i64,
    dropout: f64,
}

impl Attention {
    pub fn new(p: nn::Path, cfg: &T5Config) -> Attention {
        let inner = cfg.num_heads * cfg.d_kv;
        let d = cfg.d_model as f64;
        Attention {
            q: linear(
                &p / "q",
                cfg.d_model,
                inner,
                (d * cfg.d_kv as f64).powf(-0.5),
            ),
            k: linear(&p / "k", cfg.d_model, inner, d.powf(-0.5)),
            v: linear(&p / "v", cfg.d_model, inner, d.powf(-0.5)),
            o: linear(&p / "o", inner, cfg.d_model, (inner as f64).powf(-0.5)),
            heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            dropout: cfg.dropout_rate,
        }
    }

    /// (B, L, D) -> (B, H, L, d_kv).
    fn split(&self, x: &Tensor) -> Tensor {
        let (b, l, _) = x.size3().expect("(B, L, D)");
        x.view([b, l, self.heads, self.d_kv]).transpose(1, 2)
    }

    /// Keys and values of `kv` for cross-attention (computed once per generation).
    pub fn project_kv(&self, kv: &Tensor) -> (Tensor, Tensor) {
        (
            self.split(&self.k.forward(kv)),
            self.split(&self.v.forward(kv)),
        )
    }

    /// Attention of `x` to `kv` (itself when `None`), with an additive mask (B or 1, 1, Lq,
    /// Lk). With `cache`, this step's keys and values are appended to it first.
    pub fn forward(
        &self,
        x: &Tensor,
        kv: Option<&Tensor>,
        mask: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        precomputed: Option<&(Tensor, Tensor)>,
        train: bool,
    ) -> Tensor {
        let q = self.split(&self.q.forward(x));
        let (k, v) = match precomputed {
            Some((k, v)) => (k.shallow_clone(), v.shallow_clone()),
            None => {
                let src = kv.unwrap_or(x);
                let (k, v) = self.project_kv(src);
                match cache {
                    Some(c) => {
                        let k = match &c.k {
                            Some(old) => Tensor::cat(&[old, &k], 2),
                            None => k,
                        };
                        let v = match &c.v {
                            Some(old) => Tensor::cat(&[old, &v], 2),
                            None => v,
                        };
                        c.k = Some(k.shallow_clone());
                        c.v = Some(v.shallow_clone());
                        (k, v)
                    }
                    None => (k, v),
                }
            }
        };
        let mut scores = q.matmul(&k.transpose(-1, -2));
        if let Some(m) = mask {
            scores += m;
        }
        let weights = scores
            .to_kind(Kind::Float)
            .softmax(-1, Kind::Float)
            .to_kind(q.kind())
            .dropout(self.dropout, train);
        let out = weights.matmul(&v);
        let (b, _, l, _) = out.size4().expect("(B, H, L, dk)");
        self.o.forward(
            &out.transpose(1, 2)
                .contiguous()
                .view([b, l, self.heads * self.d_kv]),
        )
    }
}

/// T5DenseGatedActDense: wo(dropout(gelu_new(wi_0 x) * wi_1 x)).
#[derive(Debug)]
pub struct GatedFf {
    wi_0: nn::Linear,
    wi_1: nn::Linear,
    wo: nn::Linear,
    dropout: f64,
}

impl GatedFf {
    pub fn new(p: nn::Path, cfg: &T5Config) -> GatedFf {
        let d = cfg.d_model as f64;
        GatedFf {
            wi_0: linear(&p / "wi_0", cfg.d_model, cfg.d_ff, d.powf(-0.5)),
            wi_1: linear(&p / "wi_1", cfg.d_model, cfg.d_ff, d.powf(-0.5)),
            wo: linear(
                &p / "wo",
                cfg.d_ff,
                cfg.d_model,
                (cfg.d_ff as f64).powf(-0.5),
            ),
            dropout: cfg.dropout_rate,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.wi_0.forward(x).gelu("tanh") * self.wi_1.forward(x);
        self.wo.forward(&h.dropout(self.dropout, train))
    }
}

/// One block: self-attention, cross-attention (decoder), feed-forward; each pre-normed and
/// added back.
#[derive(Debug)]
pub struct Block {
    self_norm: RmsNorm,
    self_attn: Attention,
    cross: Option<(RmsNorm, Attention)>,
    ff_norm: RmsNorm,
    ff: GatedFf,
    dropout: f64,
}

impl Block {
    pub fn new(p: nn::Path, cfg: &T5Config, decoder: bool) -> Block {
        let l = &p / "layer";
        let eps = cfg.layer_norm_epsilon;
        let ff_index = if decoder { 2 } else { 1 };
        Block {
            self_norm: RmsNorm::new(&l / 0 / "layer_norm", cfg.d_model, eps),
            self_attn: Attention::new(&l / 0 / "SelfAttention", cfg),
            cross: decoder.then(|| {
                (
                    RmsNorm::new(&l / 1 / "layer_norm", cfg.d_model, eps),
                    Attention::new(&l / 1 / "EncDecAttention", cfg),
                )
            }),
            ff_norm: RmsNorm::new(&l / ff_index / "layer_norm", cfg.d_model, eps),
            ff: GatedFf::new(&l / ff_index / "DenseReluDense", cfg),
            dropout: cfg.dropout_rate,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        x: &Tensor,
        self_mask: Option<&Tensor>,
        enc: Option<&Tensor>,
        cache: Option<&mut KvCache>,
        cross_kv: Option<&(Tensor, Tensor)>,
        train: bool,
    ) -> Tensor {
        let h = self.self_attn.forward(
            &self.self_norm.forward(x),
            None,
            self_mask,
            cache,
            None,
            train,
        );
        let mut x = x + h.dropout(self.dropout, train);
        if let Some((norm, attn)) = &self.cross {
            let h = attn.forward(&norm.forward(&x), enc, None, None, cross_kv, train);
            // Not `+=`: on a tensor that is in-place, which autograd needs not to be.
            #[allow(clippy::assign_op_pattern)]
            {
                x = x + h.dropout(self.dropout, train);
            }
        }
        let h = self.ff.forward(&self.ff_norm.forward(&x), train);
        x + h.dropout(self.dropout, train)
    }

    /// Cross-attention keys and values of the encoder output (decoder blocks).
    pub fn cross_kv(&self, enc: &Tensor) -> Option<(Tensor, Tensor)> {
        self.cross.as_ref().map(|(_, a)| a.project_kv(enc))
    }
}

/// Marian/XLM sinusoidal table (n_pos, dim): sin of even-index angles in the first half,
/// cos of odd-index angles in the second half.
pub fn sinusoidal_table(n_pos: i64, dim: i64) -> Tensor {
    let half = if dim % 2 == 0 { dim / 2 } else { dim / 2 + 1 };
    let mut t = vec![0f32; (n_pos * dim) as usize];
    for pos in 0..n_pos {
        for j in 0..dim {
            let angle = pos as f64 / 10000f64.powf((2 * (j / 2)) as f64 / dim as f64);
            let (col, v) = if j % 2 == 0 {
                (j / 2, angle.sin())
            } else {
                (half + j / 2, angle.cos())
            };
            if col < dim {
                t[(pos * dim + col) as usize] = v as f32;
            }
        }
    }
    Tensor::from_slice(&t).view([n_pos, dim])
}

/// T5StackYMT3: input + sinusoidal positions, dropout, blocks, final norm, dropout.
#[derive(Debug)]
pub struct Stack {
    pe: Tensor,
    pub blocks: Vec<Block>,
    final_norm: RmsNorm,
    dropout: f64,
    decoder: bool,
}

impl Stack {
    pub fn new(p: nn::Path, cfg: &T5Config, decoder: bool) -> Stack {
        let pe = p
            .sub("additive_pe")
            .zeros_no_train("weight", &[cfg.num_max_positions, cfg.d_model]);
        tch::no_grad(|| {
            pe.shallow_clone()
                .copy_(&sinusoidal_table(cfg.num_max_positions, cfg.d_model).to_device(pe.device()))
        });
        let blocks = (0..cfg.num_layers)
            .map(|i| Block::new(&p / "block" / i, cfg, decoder))
            .collect();
        Stack {
            pe,
            blocks,
            final_norm: RmsNorm::new(&p / "final_layer_norm", cfg.d_model, cfg.layer_norm_epsilon),
            dropout: cfg.dropout_rate,
            decoder,
        }
    }

    /// Positions `offset..offset + len` of the table.
    fn positions(&self, len: i64, offset: i64) -> Tensor {
        self.pe.narrow(0, offset, len)
    }

    /// A whole sequence (training, teacher forcing): (B, L, D) -> (B, L, D).
    pub fn forward(&self, x: &Tensor, enc: Option<&Tensor>, train: bool) -> Tensor {
        let (_, l, _) = x.size3().expect("(B, L, D)");
        let mut h = (x + self.positions(l, 0).to_kind(x.kind())).dropout(self.dropout, train);
        let mask = self.decoder.then(|| causal_mask(l, x));
        for b in &self.blocks {
            h = b.forward(&h, mask.as_ref(), enc, None, None, train);
        }
        self.final_norm.forward(&h).dropout(self.dropout, train)
    }

    /// One generation step (decoder, eval): `x` is (B, 1, D) at position `pos`; self-attention
    /// keys and values accumulate in `caches`, cross-attention uses `cross`.
    pub fn step(
        &self,
        x: &Tensor,
        pos: i64,
        caches: &mut [KvCache],
        cross: &[(Tensor, Tensor)],
    ) -> Tensor {
        let mut h = x + self.positions(1, pos).to_kind(x.kind());
        for ((b, c), kv) in self.blocks.iter().zip(caches.iter_mut()).zip(cross) {
            h = b.forward(&h, None, None, Some(c), Some(kv), false);
        }
        self.final_norm.forward(&h)
    }
}

/// (1, 1, L, L) additive causal mask: 0 on and below the diagonal, the dtype's minimum above.
pub fn causal_mask(l: i64, like: &Tensor) -> Tensor {
    let ones = Tensor::ones([l, l], (Kind::Bool, like.device()));
    let future = ones.triu(1);
    let min = match like.kind() {
        Kind::BFloat16 => -3.389e38,
        Kind::Half => -65504.0,
        _ => f64::from(f32::MIN),
    };
    Tensor::zeros([l, l], (like.kind(), like.device()))
        .masked_fill(&future, min)
        .view([1, 1, l, l])
}
