//! The Conformer encoder (`-enc conformer`, spec section 7.3): Wav2Vec2-Conformer layers over
//! the log-mel spectrogram, without pre-encoder or pre-decoder. Each layer: half a
//! feed-forward, self-attention with rotary positions, the convolution module (pointwise,
//! GLU, depthwise, BatchNorm, activation, pointwise), half a feed-forward, a final LayerNorm;
//! LayerDrop in training. Names are YourMT3's (`encoder.layers.{n}.ffn1.intermediate_dense`,
//! `encoder.embed_positions.inv_freq`, ...).

// `x = x + y`, never `x += y`: on a tensor `+=` is in place, which autograd must not see.
#![allow(clippy::assign_op_pattern)]

use tch::nn::{self, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::config::{Activation, ConformerConfig};
use crate::ffn::linear02;

fn layer_norm(p: nn::Path, d: i64, eps: f64) -> nn::LayerNorm {
    nn::layer_norm(
        p,
        vec![d],
        nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
    )
}

fn conv1d(p: nn::Path, i: i64, o: i64, k: i64, groups: i64) -> nn::Conv1D {
    nn::conv1d(
        p,
        i,
        o,
        k,
        nn::ConvConfig {
            padding: (k - 1) / 2,
            groups,
            bias: false,
            ..Default::default()
        },
    )
}

/// intermediate_dense -> activation -> dropout -> output_dense -> dropout.
#[derive(Debug)]
struct FeedForward {
    intermediate_dense: nn::Linear,
    output_dense: nn::Linear,
    act: Activation,
    dropout: f64,
}

impl FeedForward {
    fn new(p: nn::Path, cfg: &ConformerConfig) -> FeedForward {
        FeedForward {
            intermediate_dense: linear02(
                &p / "intermediate_dense",
                cfg.d_model,
                cfg.intermediate_size,
                true,
            ),
            output_dense: linear02(
                &p / "output_dense",
                cfg.intermediate_size,
                cfg.d_model,
                true,
            ),
            act: cfg.hidden_act,
            dropout: cfg.dropout_rate,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self
            .act
            .apply(&self.intermediate_dense.forward(x))
            .dropout(self.dropout, train);
        self.output_dense.forward(&h).dropout(self.dropout, train)
    }
}

/// Rotary positions (`embed_positions`): inv_freq = 1/base^(2i/head), applied in the
/// rotate-half form to the layer's input viewed per head; queries and keys are projected from
/// the rotated input, values from the plain one.
#[derive(Debug)]
struct Rotary {
    inv_freq: Tensor,
}

impl Rotary {
    fn new(p: nn::Path, head: i64, base: f64) -> Rotary {
        let values: Vec<f32> = (0..head / 2)
            .map(|i| (1.0 / base.powf((2 * i) as f64 / head as f64)) as f32)
            .collect();
        let inv_freq = p.zeros_no_train("inv_freq", &[head / 2]);
        tch::no_grad(|| {
            inv_freq
                .shallow_clone()
                .copy_(&Tensor::from_slice(&values).to_device(inv_freq.device()))
        });
        Rotary { inv_freq }
    }

    /// (B, L, H·dh) rotated per head.
    fn apply(&self, x: &Tensor, heads: i64) -> Tensor {
        let (b, l, d) = x.size3().expect("(B, L, D)");
        let dh = d / heads;
        let t = Tensor::arange(l, (Kind::Float, x.device()));
        let freqs = t.unsqueeze(1) * self.inv_freq.to_kind(Kind::Float).unsqueeze(0); // (L, dh/2)
        let emb = Tensor::cat(&[&freqs, &freqs], -1).view([1, l, 1, dh]);
        let (cos, sin) = (emb.cos().to_kind(x.kind()), emb.sin().to_kind(x.kind()));
        let h = x.view([b, l, heads, dh]);
        let first = h.narrow(-1, 0, dh / 2);
        let second = h.narrow(-1, dh / 2, dh - dh / 2);
        let rotated = Tensor::cat(&[second.neg(), first], -1);
        (h * cos + rotated * sin).view([b, l, d])
    }
}

#[derive(Debug)]
struct SelfAttention {
    linear_q: nn::Linear,
    linear_k: nn::Linear,
    linear_v: nn::Linear,
    linear_out: nn::Linear,
    heads: i64,
    dropout: f64,
}

impl SelfAttention {
    fn new(p: nn::Path, cfg: &ConformerConfig) -> SelfAttention {
        let d = cfg.d_model;
        SelfAttention {
            linear_q: linear02(&p / "linear_q", d, d, true),
            linear_k: linear02(&p / "linear_k", d, d, true),
            linear_v: linear02(&p / "linear_v", d, d, true),
            linear_out: linear02(&p / "linear_out", d, d, true),
            heads: cfg.num_heads,
            dropout: cfg.dropout_rate,
        }
    }

    fn forward(&self, x: &Tensor, rotary: &Rotary, train: bool) -> Tensor {
        let (b, l, d) = x.size3().expect("(B, L, D)");
        let dh = d / self.heads;
        let qk = rotary.apply(x, self.heads);
        let split = |t: Tensor| t.view([b, l, self.heads, dh]).transpose(1, 2);
        let q = split(self.linear_q.forward(&qk));
        let k = split(self.linear_k.forward(&qk));
        let v = split(self.linear_v.forward(x));
        let probs = (q.matmul(&k.transpose(-1, -2)) / (dh as f64).sqrt())
            .to_kind(Kind::Float)
            .softmax(-1, Kind::Float)
            .to_kind(v.kind())
            .dropout(self.dropout, train);
        let ctx = probs
            .matmul(&v)
            .transpose(1, 2)
            .contiguous()
            .view([b, l, d]);
        self.linear_out.forward(&ctx)
    }
}

#[derive(Debug)]
struct ConvModule {
    layer_norm: nn::LayerNorm,
    pointwise_conv1: nn::Conv1D,
    depthwise_conv: nn::Conv1D,
    batch_norm: nn::BatchNorm,
    pointwise_conv2: nn::Conv1D,
    act: Activation,
    dropout: f64,
}

impl ConvModule {
    fn new(p: nn::Path, cfg: &ConformerConfig) -> ConvModule {
        let d = cfg.d_model;
        ConvModule {
            layer_norm: layer_norm(&p / "layer_norm", d, cfg.layer_norm_eps),
            pointwise_conv1: conv1d(&p / "pointwise_conv1", d, 2 * d, 1, 1),
            depthwise_conv: conv1d(
                &p / "depthwise_conv",
                d,
                d,
                cfg.conv_depthwise_kernel_size,
                d,
            ),
            batch_norm: nn::batch_norm1d(&p / "batch_norm", d, Default::default()),
            pointwise_conv2: conv1d(&p / "pointwise_conv2", d, d, 1, 1),
            act: cfg.hidden_act,
            dropout: cfg.dropout_rate,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.layer_norm.forward(x).transpose(1, 2); // (B, D, T)
        let h = self.pointwise_conv1.forward(&h).glu(1);
        let h = self.depthwise_conv.forward(&h);
        let h = self.act.apply(&self.batch_norm.forward_t(&h, train));
        let h = self
            .pointwise_conv2
            .forward(&h)
            .dropout(self.dropout, train);
        h.transpose(1, 2)
    }
}

#[derive(Debug)]
struct Layer {
    ffn1_layer_norm: nn::LayerNorm,
    ffn1: FeedForward,
    self_attn_layer_norm: nn::LayerNorm,
    self_attn: SelfAttention,
    conv_module: ConvModule,
    ffn2_layer_norm: nn::LayerNorm,
    ffn2: FeedForward,
    final_layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl Layer {
    fn new(p: nn::Path, cfg: &ConformerConfig) -> Layer {
        let (d, eps) = (cfg.d_model, cfg.layer_norm_eps);
        Layer {
            ffn1_layer_norm: layer_norm(&p / "ffn1_layer_norm", d, eps),
            ffn1: FeedForward::new(&p / "ffn1", cfg),
            self_attn_layer_norm: layer_norm(&p / "self_attn_layer_norm", d, eps),
            self_attn: SelfAttention::new(&p / "self_attn", cfg),
            conv_module: ConvModule::new(&p / "conv_module", cfg),
            ffn2_layer_norm: layer_norm(&p / "ffn2_layer_norm", d, eps),
            ffn2: FeedForward::new(&p / "ffn2", cfg),
            final_layer_norm: layer_norm(&p / "final_layer_norm", d, eps),
            dropout: cfg.dropout_rate,
        }
    }

    fn forward(&self, x: &Tensor, rotary: &Rotary, train: bool) -> Tensor {
        let h = x + self.ffn1.forward(&self.ffn1_layer_norm.forward(x), train) * 0.5;
        let a = self
            .self_attn
            .forward(&self.self_attn_layer_norm.forward(&h), rotary, train)
            .dropout(self.dropout, train);
        let h = h + a;
        let h = &h + self.conv_module.forward(&h, train);
        let h = &h + self.ffn2.forward(&self.ffn2_layer_norm.forward(&h), train) * 0.5;
        self.final_layer_norm.forward(&h)
    }
}

/// (B, T, d_model) spectrogram -> (B, T, d_model).
#[derive(Debug)]
pub struct Conformer {
    embed_positions: Rotary,
    layers: Vec<Layer>,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    layerdrop: f64,
}

impl Conformer {
    pub fn new(p: nn::Path, cfg: &ConformerConfig) -> Conformer {
        Conformer {
            embed_positions: Rotary::new(
                &p / "embed_positions",
                cfg.d_model / cfg.num_heads,
                cfg.rotary_base,
            ),
            layers: (0..cfg.num_layers)
                .map(|i| Layer::new(&p / "layers" / i, cfg))
                .collect(),
            layer_norm: layer_norm(&p / "layer_norm", cfg.d_model, cfg.layer_norm_eps),
            dropout: cfg.dropout_rate,
            layerdrop: cfg.layerdrop,
        }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        // LayerDrop's draws come first from the per-step seed, so that every rank of a
        // data-parallel job skips the same layers (and their gradients line up).
        let keep: Vec<bool> = if train && self.layerdrop > 0.0 {
            let r = Tensor::rand([self.layers.len() as i64], (Kind::Float, tch::Device::Cpu));
            Vec::<f32>::try_from(r)
                .expect("floats")
                .into_iter()
                .map(|u| f64::from(u) >= self.layerdrop)
                .collect()
        } else {
            vec![true; self.layers.len()]
        };
        let mut h = x.dropout(self.dropout, train);
        for (layer, keep) in self.layers.iter().zip(keep) {
            if keep {
                h = layer.forward(&h, &self.embed_positions, train);
            }
        }
        self.layer_norm.forward(&h)
    }
}
