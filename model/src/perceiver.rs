//! The Perceiver-TF encoder of YPTF (spec section 7.2): the Res3B convolutional pre-encoder,
//! K latents per frame that cross-attend to the frame's spectral tokens (SCA), local
//! transformer layers over the latents of a frame, temporal transformer layers over the
//! frames of a latent; and the pre-decoders that turn (B, T, K, D) into the T5 decoder's
//! memory: `linear` (one channel) and `mc_shared_linear` (latents 2c and 2c+1 for channel c).

// `x = x + y`, never `x += y`: on a tensor `+=` is in place, which autograd must not see.
#![allow(clippy::assign_op_pattern)]

use tch::nn::{self, Init, Module, ModuleT};
use tch::{Kind, Tensor};

use crate::config::{LatentPe, PerceiverConfig};
use crate::ffn::{FeedForward, linear02};
use crate::position::{Alibi, Rope, RopeKind};
use crate::syncbn::SyncBn;

/// Conv 3x3 (no bias) + BatchNorm, twice, plus a shortcut (1x1 conv with bias when the
/// channels change), ReLU, then average pooling over frequency by 2.
#[derive(Debug)]
struct ResBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    shortcut: Option<nn::Conv2D>,
}

fn xavier_uniform(fan_in: i64, fan_out: i64) -> Init {
    let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

impl ResBlock {
    fn new(p: nn::Path, cin: i64, cout: i64) -> ResBlock {
        let conv3 = |p: nn::Path, i: i64, o: i64| {
            nn::conv2d(
                p,
                i,
                o,
                3,
                nn::ConvConfig {
                    padding: 1,
                    bias: false,
                    ws_init: xavier_uniform(i * 9, o * 9),
                    ..Default::default()
                },
            )
        };
        let bn = |p: nn::Path| nn::batch_norm2d(p, cout, Default::default());
        ResBlock {
            conv1: conv3(&p / "conv1", cin, cout),
            bn1: bn(&p / "bn1"),
            conv2: conv3(&p / "conv2", cout, cout),
            bn2: bn(&p / "bn2"),
            shortcut: (cin != cout).then(|| {
                nn::conv2d(
                    &p / "shortcut",
                    cin,
                    cout,
                    1,
                    nn::ConvConfig {
                        ws_init: xavier_uniform(cin, cout),
                        bs_init: Init::Const(0.0),
                        ..Default::default()
                    },
                )
            }),
        }
    }

    /// (B, Cin, T, F) -> (B, Cout, T, F/2); BatchNorm synchronised over ranks with `sync`.
    fn forward(&self, x: &Tensor, train: bool, sync: Option<&SyncBn>) -> Tensor {
        let bn = |bn: &nn::BatchNorm, t: &Tensor| match sync.filter(|_| train) {
            Some(s) => s.forward(bn, t),
            None => bn.forward_t(t, train),
        };
        let h = bn(&self.bn1, &self.conv1.forward(x)).relu();
        let h = bn(&self.bn2, &self.conv2.forward(&h));
        let skip = match &self.shortcut {
            Some(c) => c.forward(x),
            None => x.shallow_clone(),
        };
        (h + skip)
            .relu()
            .avg_pool2d([1, 2], [1, 2], [0, 0], false, true, None::<i64>)
    }
}

/// `PreEncoderBlockRes3B`: (B, T, F) -> (B, T, F/8, C).
#[derive(Debug)]
pub struct PreEncoder {
    blocks: Vec<ResBlock>,
}

impl PreEncoder {
    pub fn new(p: nn::Path, channels: i64) -> PreEncoder {
        let blocks = (0..3)
            .map(|i| {
                ResBlock::new(
                    &p / 0 / "blocks" / i,
                    if i == 0 { 1 } else { channels },
                    channels,
                )
            })
            .collect();
        PreEncoder { blocks }
    }

    pub fn forward(&self, spec: &Tensor, train: bool, sync: Option<&SyncBn>) -> Tensor {
        let mut h = spec.unsqueeze(1);
        for b in &self.blocks {
            h = b.forward(&h, train, sync);
        }
        h.permute([0, 2, 3, 1])
    }
}

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

/// The rotary embedding one attention module uses, and whether keys rotate too.
type RopeUse<'a> = Option<(&'a Rope, bool)>;

/// Perceiver attention: q from LayerNorm(query), k and v from LayerNorm(kv) (cross) or the
/// same normed query (self); 8 heads; scores / sqrt(head width); output dense; optional
/// query residual.
#[derive(Debug)]
struct Attention {
    layernorm1: nn::LayerNorm,
    layernorm2: Option<nn::LayerNorm>,
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    dense: nn::Linear,
    alibi: Option<Alibi>,
    heads: i64,
    dropout: f64,
    query_residual: bool,
}

impl Attention {
    fn new(
        p: nn::Path,
        d_q: i64,
        d_kv: Option<i64>,
        cfg: &PerceiverConfig,
        query_residual: bool,
    ) -> Attention {
        let inner = cfg.d_latent;
        let kv_in = d_kv.unwrap_or(d_q);
        let s = &p / "self";
        Attention {
            layernorm1: layer_norm(&s / "layernorm1", d_q, cfg.layer_norm_eps),
            layernorm2: d_kv.map(|d| layer_norm(&s / "layernorm2", d, cfg.layer_norm_eps)),
            query: linear02(&s / "query", d_q, inner, true),
            key: linear02(&s / "key", kv_in, inner, true),
            value: linear02(&s / "value", kv_in, inner, true),
            dense: linear02(&p / "output" / "dense", inner, d_q, true),
            alibi: match cfg.position_encoding {
                LatentPe::Alibi => Some(Alibi::fixed(cfg.num_heads)),
                LatentPe::Alibit => Some(Alibi::trainable(
                    &s / "alibi_bias",
                    cfg.num_heads,
                    cfg.pe_quirks,
                )),
                _ => None,
            },
            heads: cfg.num_heads,
            dropout: cfg.dropout_rate,
            query_residual,
        }
    }

    fn split(&self, x: &Tensor) -> Tensor {
        let (b, l, d) = x.size3().expect("(B, L, D)");
        x.view([b, l, self.heads, d / self.heads]).transpose(1, 2)
    }

    /// (N, Lq, Dq) attending to (N, Lk, Dkv) (or itself) -> (N, Lq, Dq).
    fn forward(&self, x: &Tensor, kv: Option<&Tensor>, rope: RopeUse, train: bool) -> Tensor {
        let q_in = self.layernorm1.forward(x);
        let kv_in = match (kv, &self.layernorm2) {
            (Some(kv), Some(ln)) => ln.forward(kv),
            _ => q_in.shallow_clone(),
        };
        let mut q = self.split(&self.query.forward(&q_in));
        let mut k = self.split(&self.key.forward(&kv_in));
        let v = self.split(&self.value.forward(&kv_in));
        if let Some((rope, keys)) = rope {
            q = rope.rotate(&q);
            if keys {
                k = rope.rotate(&k);
            }
        }
        let dh = q.size()[3];
        let mut scores = q.matmul(&k.transpose(-1, -2));
        if let Some(a) = &self.alibi {
            let (lq, lk) = (scores.size()[2], scores.size()[3]);
            let (device, kind) = (scores.device(), scores.kind());
            scores = scores + a.bias(lq, lk, device, kind);
        }
        let probs = (scores / (dh as f64).sqrt())
            .to_kind(Kind::Float)
            .softmax(-1, Kind::Float)
            .to_kind(v.kind())
            .dropout(self.dropout, train);
        let (n, _, lq, _) = probs.size4().expect("(N, H, Lq, Lk)");
        let ctx = probs
            .matmul(&v)
            .transpose(1, 2)
            .contiguous()
            .view([n, lq, -1]);
        let out = self.dense.forward(&ctx);
        if self.query_residual { out + x } else { out }
    }
}

/// A latent or temporal layer: h = x + Attn(x); out = h + FF(LayerNorm(h)).
#[derive(Debug)]
struct Layer {
    attention: Attention,
    layernorm: nn::LayerNorm,
    ff: FeedForward,
}

impl Layer {
    fn new(p: nn::Path, cfg: &PerceiverConfig) -> Layer {
        let d = cfg.d_latent;
        Layer {
            attention: Attention::new(&p / "attention", d, None, cfg, true),
            layernorm: layer_norm(&p / "layernorm", d, cfg.layer_norm_eps),
            ff: FeedForward::new(&p / "mlp", d, cfg),
        }
    }

    fn forward(&self, x: &Tensor, rope: RopeUse, train: bool) -> Tensor {
        let h = self.attention.forward(x, None, rope, train);
        let f = self.ff.forward(&self.layernorm.forward(&h), train);
        h + f
    }
}

/// One block: spectral cross-attention, local layers, temporal layers.
#[derive(Debug)]
struct Block {
    sca: Attention,
    local: Vec<Layer>,
    temporal: Vec<Layer>,
}

/// The rotary embeddings of the three attention kinds (spec 7.2: pixel, pixel, lang).
#[derive(Debug)]
struct Ropes {
    sca: Rope,
    latent: Rope,
    temporal: Rope,
    keys: bool,
}

/// Additive trainable position embeddings (`encoder.pos_emb.*`).
#[derive(Debug)]
enum AddedPe {
    None,
    /// `tkd`: (T + 10, K, D), added before block 1.
    Input(Tensor),
    /// (T + 10, D), the same for every latent.
    Td(Tensor),
    /// (T + 10, K), the same over the width.
    Tk(Tensor),
    /// `kdt`: (K, D) on the latents, (T + 10, D) before block 1's first temporal layer.
    Kdt(Tensor, Tensor),
}

/// The Perceiver-TF encoder: (B, T, F) spectrogram -> (B, T, K, D).
#[derive(Debug)]
pub struct PerceiverTf {
    pre_encoder: PreEncoder,
    latents: Tensor,
    pe: AddedPe,
    ropes: Option<Ropes>,
    blocks: Vec<Block>,
    attention_to_channel: bool,
    pub num_latents: i64,
    pub d_latent: i64,
}

impl PerceiverTf {
    /// `pre` names the pre-encoder's root, `p` the encoder's; `d_feat` and `feat_length` are
    /// the spectrogram's bins and frames per segment.
    pub fn new(
        pre: nn::Path,
        p: nn::Path,
        cfg: &PerceiverConfig,
        d_feat: i64,
        feat_length: i64,
    ) -> PerceiverTf {
        let (k, d) = (cfg.num_latents, cfg.d_latent);
        let init = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let f = d_feat / 8;
        let kv_dim = if cfg.attention_to_channel {
            f
        } else {
            cfg.conv_out_channels
        };
        let rows = feat_length + 10;
        let pe_path = &p / "pos_emb";
        let pe = match cfg.position_encoding {
            LatentPe::Tkd => AddedPe::Input(pe_path.var("_pos_emb", &[rows, k, d], init)),
            LatentPe::Td => AddedPe::Td(pe_path.var("_pos_emb", &[rows, d], init)),
            LatentPe::Tk => AddedPe::Tk(pe_path.var("_pos_emb", &[rows, k], init)),
            LatentPe::Kdt => AddedPe::Kdt(
                pe_path.var("_pos_emb", &[k, d], init),
                pe_path.var("_pos_emb_temporal", &[rows, d], init),
            ),
            _ => AddedPe::None,
        };
        let ropes = (cfg.position_encoding == LatentPe::Rope).then(|| {
            let head = d / cfg.num_heads;
            // The quirk: the width comes from the head count, not the head's width.
            let full = if cfg.pe_quirks {
                cfg.num_heads.min(head)
            } else {
                head
            };
            let dim = if cfg.rope_partial_pe { full / 2 } else { full };
            let dim = (dim / 2 * 2).max(2);
            Ropes {
                sca: Rope::new(&p / "rotary_emb_sca", RopeKind::Pixel, dim),
                latent: Rope::new(&p / "rotary_emb_latent", RopeKind::Pixel, dim),
                temporal: Rope::new(&p / "rotary_emb_temporal", RopeKind::Lang, dim),
                keys: cfg.rope_apply_to_keys || !cfg.pe_quirks,
            }
        });
        let blocks = (0..cfg.num_blocks)
            .map(|i| {
                let b = &p / "blocks" / i;
                Block {
                    sca: Attention::new(
                        &b / "spectral_cross_attention",
                        d,
                        Some(kv_dim),
                        cfg,
                        cfg.sca_use_query_residual,
                    ),
                    local: (0..cfg.num_local)
                        .map(|j| Layer::new(&b / "local_transformer" / j, cfg))
                        .collect(),
                    temporal: (0..cfg.num_temporal)
                        .map(|j| Layer::new(&b / "temporal_transformer" / j, cfg))
                        .collect(),
                }
            })
            .collect();
        PerceiverTf {
            pre_encoder: PreEncoder::new(pre, cfg.conv_out_channels),
            latents: (&p / "latent_array").var("latents", &[k, d], init),
            pe,
            ropes,
            blocks,
            attention_to_channel: cfg.attention_to_channel,
            num_latents: k,
            d_latent: d,
        }
    }

    pub fn forward(&self, spec: &Tensor, train: bool, sync: Option<&SyncBn>) -> Tensor {
        let (b, t, _) = spec.size3().expect("(B, T, F)");
        let (k, d) = (self.num_latents, self.d_latent);
        let feats = self.pre_encoder.forward(spec, train, sync); // (B, T, F', C)
        let feats = if self.attention_to_channel {
            feats.transpose(2, 3)
        } else {
            feats
        };
        let (_, _, n_tok, kv_dim) = feats.size4().expect("(B, T, tokens, width)");
        let kv = feats.contiguous().view([b * t, n_tok, kv_dim]);
        let mut lat = match &self.pe {
            AddedPe::Kdt(kd, _) => &self.latents + kd,
            _ => self.latents.shallow_clone(),
        }
        .to_kind(spec.kind())
        .view([1, 1, k, d])
        .expand([b, t, k, d], false);
        let kind = spec.kind();
        match &self.pe {
            AddedPe::Input(pe) => lat = lat + pe.narrow(0, 0, t).unsqueeze(0).to_kind(kind),
            AddedPe::Td(pe) => {
                lat = lat + pe.narrow(0, 0, t).view([1, t, 1, d]).to_kind(kind);
            }
            AddedPe::Tk(pe) => {
                lat = lat + pe.narrow(0, 0, t).view([1, t, k, 1]).to_kind(kind);
            }
            _ => {}
        }
        let mut h = lat.contiguous().view([b * t, k, d]);
        let ropes = self.ropes.as_ref();
        let sca_pos: RopeUse = ropes.map(|r| (&r.sca, r.keys));
        let local: RopeUse = ropes.map(|r| (&r.latent, r.keys));
        let temporal: RopeUse = ropes.map(|r| (&r.temporal, r.keys));
        for (bi, block) in self.blocks.iter().enumerate() {
            h = block.sca.forward(&h, Some(&kv), sca_pos, train);
            for layer in &block.local {
                h = layer.forward(&h, local, train);
            }
            // (B·T, K, D) -> (B·K, T, D)
            h = h
                .view([b, t, k, d])
                .transpose(1, 2)
                .contiguous()
                .view([b * k, t, d]);
            if bi == 0
                && let AddedPe::Kdt(_, pt) = &self.pe
            {
                h = h + pt.narrow(0, 0, t).unsqueeze(0).to_kind(spec.kind());
            }
            for layer in &block.temporal {
                h = layer.forward(&h, temporal, train);
            }
            h = h
                .view([b, k, t, d])
                .transpose(1, 2)
                .contiguous()
                .view([b * t, k, d]);
        }
        h.view([b, t, k, d])
    }
}

/// From the encoder's (B, T, K, D) to the decoder's memory.
#[derive(Debug)]
pub enum PreDecoder {
    /// Flattens the latents: Linear(K·D -> d_model, no bias), (B, T, d_model).
    Linear(nn::Linear),
    /// Channel c gets latents c·g .. c·g + g (g = K / channels) concatenated; one shared
    /// Linear(g·D -> d_model, no bias): (B, channels, T, d_model).
    MultiChannel { proj: nn::Linear, channels: i64 },
}

fn plain_linear(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    nn::linear(
        p,
        i,
        o,
        nn::LinearConfig {
            bias: false,
            ..Default::default()
        },
    )
}

impl PreDecoder {
    pub fn linear(p: nn::Path, k: i64, d: i64, d_model: i64) -> PreDecoder {
        PreDecoder::Linear(plain_linear(&p / 0 / "projection_layer", k * d, d_model))
    }

    pub fn multi_channel(p: nn::Path, k: i64, d: i64, d_model: i64, channels: i64) -> PreDecoder {
        PreDecoder::MultiChannel {
            proj: plain_linear(&p / 0 / "linear", k / channels * d, d_model),
            channels,
        }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (b, t, k, d) = x.size4().expect("(B, T, K, D)");
        match self {
            PreDecoder::Linear(l) => l.forward(&x.reshape([b, t, k * d])),
            PreDecoder::MultiChannel { proj, channels } => {
                let c = *channels;
                let g = k / c;
                let x = x.reshape([b, t, c, g * d]).transpose(1, 2);
                proj.forward(&x)
            }
        }
    }
}
