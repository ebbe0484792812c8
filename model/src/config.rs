//! Model configuration: every size comes from here (YourMT3's `model_cfg` and
//! `T5_BASE_CFG["google/t5-v1_1-small"]`, spec section 3.2). The defaults are YMT3+; the demo
//! uses [`ModelConfig::demo`].

use serde::{Deserialize, Serialize};

/// One T5 stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct T5Config {
    pub d_model: i64,
    pub num_heads: i64,
    /// Per-head width (t5-v1_1-small: 64, so the attention is 6 x 64 = 384 wide).
    pub d_kv: i64,
    /// d_model x ff_widening_factor (2).
    pub d_ff: i64,
    pub num_layers: i64,
    pub dropout_rate: f64,
    pub layer_norm_epsilon: f64,
    /// Rows of the sinusoidal table: max(feat_length, event_length) + 10.
    pub num_max_positions: i64,
}

impl Default for T5Config {
    fn default() -> Self {
        T5Config {
            d_model: 512,
            num_heads: 6,
            d_kv: 64,
            d_ff: 1024,
            num_layers: 8,
            dropout_rate: 0.05,
            layer_norm_epsilon: 1e-6,
            num_max_positions: 1034,
        }
    }
}

/// How logits are scaled (spec section 7 and 11.1 item 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogitScale {
    /// One 1/sqrt(d_model) in training and generation (what `tie_word_embeddings` meant):
    /// the default for training from scratch.
    Sqrt,
    /// YourMT3's: 1/d_model in training (scaled twice), 1/sqrt(d_model) in generation. For
    /// fine-tuning or evaluating released checkpoints with their own loss scale.
    Yourmt3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub encoder: T5Config,
    pub decoder: T5Config,
    pub vocab_size: i64,
    /// Spectrogram frames per segment (256 melspec hop 128).
    pub feat_length: i64,
    /// Bins per frame; equals the encoder's d_model (no pre-encoder for T5).
    pub d_feat: i64,
    /// Target tokens per segment (1024).
    pub event_length: i64,
    pub logit_scale: LogitScale,
    /// `-enc`: the T5 stack above, or the Perceiver-TF below.
    pub encoder_type: EncoderType,
    /// The Perceiver-TF's sizes (used with `encoder_type = perceiver_tf`).
    pub perceiver: PerceiverConfig,
    /// The Conformer's sizes (used with `encoder_type = conformer`).
    pub conformer: ConformerConfig,
    /// `-dec`: one T5 decoder, or the multi-channel T5 decoder (shared weights).
    pub decoder_type: DecoderType,
    /// Decoder channels of `multi_t5` (13 for `mc13_full_plus_256`); 1 for `t5`.
    pub num_channels: i64,
}

/// `-enc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EncoderType {
    #[default]
    T5,
    PerceiverTf,
    Conformer,
}

/// The Conformer encoder (spec section 7.3; YourMT3's `conformer` sub-config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConformerConfig {
    /// Equal to the spectrogram's bins (no pre-encoder).
    pub d_model: i64,
    pub intermediate_size: i64,
    pub num_heads: i64,
    pub num_layers: i64,
    pub dropout_rate: f64,
    /// Probability of skipping a whole layer in training.
    pub layerdrop: f64,
    pub conv_depthwise_kernel_size: i64,
    pub layer_norm_eps: f64,
    pub hidden_act: Activation,
    pub rotary_base: f64,
}

impl Default for ConformerConfig {
    fn default() -> Self {
        ConformerConfig {
            d_model: 512,
            intermediate_size: 512,
            num_heads: 8,
            num_layers: 8,
            dropout_rate: 0.1,
            layerdrop: 0.1,
            conv_depthwise_kernel_size: 31,
            layer_norm_eps: 1e-5,
            hidden_act: Activation::Gelu,
            rotary_base: 10000.0,
        }
    }
}

/// `-dec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DecoderType {
    #[default]
    T5,
    MultiT5,
}

/// Feed-forward layer of the Perceiver-TF (`-ff`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FfType {
    /// Linear(d, wf d, bias), activation, Linear(wf d, d, bias).
    Mlp,
    /// Gated: w2(act(w1 x) * gate(x)), no bias.
    Gmlp,
    /// Mixtral-style mixture of gated experts, top-k routed.
    Moe,
}

/// Activations of `-act` (HF names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact (erf) GELU.
    Gelu,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluNew,
    Relu,
    Silu,
    Tanh,
    Sigmoid,
}

impl Activation {
    pub fn parse(s: &str) -> Option<Activation> {
        Some(match s.to_ascii_lowercase().as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluNew,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            _ => return None,
        })
    }
}

/// Position encoding of the Perceiver-TF (`-epe`, spec section 7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatentPe {
    /// Trainable (T, K, D) added once before block 1 (`trainable` = `tkd`).
    Tkd,
    /// Trainable (T, D), broadcast over the latents.
    Td,
    /// Trainable (T, K), broadcast over the width.
    Tk,
    /// Trainable (K, D) on the latents, plus (T, D) before block 1's first temporal layer.
    Kdt,
    /// ALiBi biases with fixed slopes.
    Alibi,
    /// ALiBi biases with trainable slopes.
    Alibit,
    /// Rotary embeddings inside attention.
    Rope,
    None,
}

impl LatentPe {
    pub fn parse(s: &str) -> Option<LatentPe> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trainable" | "tkd" | "default" => LatentPe::Tkd,
            "td" => LatentPe::Td,
            "tk" => LatentPe::Tk,
            "kdt" => LatentPe::Kdt,
            "alibi" => LatentPe::Alibi,
            "alibit" => LatentPe::Alibit,
            "rope" => LatentPe::Rope,
            "none" | "0" => LatentPe::None,
            _ => return None,
        })
    }
}

/// The Perceiver-TF encoder (spec section 7.2), with the effective values of YourMT3's
/// configuration (PerceiverTFConfig defaults where its keys mismatch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerceiverConfig {
    /// Output channels of the Res3B convolutional pre-encoder (`-cout`).
    pub conv_out_channels: i64,
    /// K (`-nl`): 24 single, 26 multi.
    pub num_latents: i64,
    /// D, the latents' width.
    pub d_latent: i64,
    pub num_heads: i64,
    pub num_blocks: i64,
    pub num_local: i64,
    pub num_temporal: i64,
    /// `-sqr`: residual around the spectral cross-attention.
    pub sca_use_query_residual: bool,
    /// `-atc`: the cross-attention's tokens are the conv channels (each a frequency vector).
    pub attention_to_channel: bool,
    pub dropout_rate: f64,
    pub layer_norm_eps: f64,
    pub position_encoding: LatentPe,
    pub ff_type: FfType,
    /// `-wf`.
    pub ff_widening_factor: i64,
    /// `-nmoe`, `-kmoe`.
    pub moe_num_experts: i64,
    pub moe_topk: i64,
    /// `-act`.
    pub hidden_act: Activation,
    /// `-rk`: rotate keys too (always so in the correct form).
    pub rope_apply_to_keys: bool,
    /// `-rp`: rotate only part of each head.
    pub rope_partial_pe: bool,
    /// YourMT3's position-encoding quirks, which its released RoPE checkpoints need (spec
    /// 11.1 item 4): the rotary width is the head count (8; 4 partial) instead of the head
    /// width, and only the queries rotate unless `-rk`; `alibit` biases head 0 only. Off
    /// (the correct forms: the head's width, half when partial, queries and keys; every
    /// head biased) for training from scratch.
    pub pe_quirks: bool,
}

impl Default for PerceiverConfig {
    fn default() -> Self {
        PerceiverConfig {
            conv_out_channels: 128,
            num_latents: 24,
            d_latent: 128,
            num_heads: 8,
            num_blocks: 3,
            num_local: 2,
            num_temporal: 2,
            sca_use_query_residual: false,
            attention_to_channel: true,
            dropout_rate: 0.1,
            layer_norm_eps: 1e-5,
            position_encoding: LatentPe::Tkd,
            ff_type: FfType::Mlp,
            ff_widening_factor: 1,
            moe_num_experts: 4,
            moe_topk: 2,
            hidden_act: Activation::Gelu,
            rope_apply_to_keys: false,
            rope_partial_pe: false,
            pe_quirks: false,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            encoder: T5Config::default(),
            decoder: T5Config::default(),
            vocab_size: 596,
            feat_length: 256,
            d_feat: 512,
            event_length: 1024,
            logit_scale: LogitScale::Sqrt,
            encoder_type: EncoderType::T5,
            perceiver: PerceiverConfig::default(),
            conformer: ConformerConfig::default(),
            decoder_type: DecoderType::T5,
            num_channels: 1,
        }
    }
}

impl ModelConfig {
    /// The small T5 `amt demo` trains on the CPU: 128 wide (128 mel bins), 2 + 2 layers, 4
    /// heads of 32, targets of 128 tokens.
    pub fn demo() -> ModelConfig {
        let t5 = T5Config {
            d_model: 128,
            num_heads: 4,
            d_kv: 32,
            d_ff: 256,
            num_layers: 2,
            dropout_rate: 0.0,
            layer_norm_epsilon: 1e-6,
            num_max_positions: 266,
        };
        ModelConfig {
            encoder: t5.clone(),
            decoder: T5Config {
                num_layers: 2,
                ..t5
            },
            vocab_size: 596,
            feat_length: 256,
            d_feat: 128,
            event_length: 128,
            logit_scale: LogitScale::Sqrt,
            ..ModelConfig::default()
        }
    }

    /// `num_max_positions` = max(feat_length, event_length) + 10, for both stacks. The
    /// multi-T5 decoder's table is sized, as in YourMT3, from the single-channel length
    /// (1024), so its checkpoints' 1034-row table loads.
    pub fn with_positions(mut self) -> ModelConfig {
        let n = self.feat_length.max(self.event_length) + 10;
        self.encoder.num_max_positions = n;
        self.decoder.num_max_positions = match self.decoder_type {
            DecoderType::MultiT5 => n.max(1024 + 10),
            DecoderType::T5 => n,
        };
        self
    }

    /// Checks the sizes that must agree.
    pub fn check(&self) -> Result<(), String> {
        match self.decoder_type {
            DecoderType::T5 if self.num_channels != 1 => {
                return Err("the T5 decoder has one channel; use -dec multi-t5".into());
            }
            DecoderType::MultiT5 if self.num_channels < 1 => {
                return Err("the multi-T5 decoder needs at least one channel".into());
            }
            _ => {}
        }
        if self.encoder_type == EncoderType::PerceiverTf {
            return self.check_perceiver();
        }
        if self.encoder_type == EncoderType::Conformer {
            let c = &self.conformer;
            if self.decoder_type == DecoderType::MultiT5 {
                return Err(
                    "the multi-T5 decoder reads per-channel encoder states: use -enc perceiver-tf"
                        .into(),
                );
            }
            if c.d_model != self.d_feat {
                return Err(format!(
                    "the Conformer reads the spectrogram directly: its d_model ({}) must equal the bins per frame ({})",
                    c.d_model, self.d_feat
                ));
            }
            if c.d_model != self.decoder.d_model {
                return Err(format!(
                    "the Conformer's d_model ({}) must equal the decoder's ({})",
                    c.d_model, self.decoder.d_model
                ));
            }
            if c.num_heads <= 0
                || c.d_model % c.num_heads != 0
                || (c.d_model / c.num_heads) % 2 != 0
            {
                return Err(format!(
                    "the Conformer's {} heads must split d_model {} into even widths",
                    c.num_heads, c.d_model
                ));
            }
            if c.num_layers <= 0
                || c.intermediate_size <= 0
                || c.conv_depthwise_kernel_size % 2 == 0
            {
                return Err("the Conformer needs layers, a positive intermediate size and an odd depthwise kernel".into());
            }
            return Ok(());
        }
        if self.decoder_type == DecoderType::MultiT5 {
            return Err(
                "the multi-T5 decoder reads per-channel encoder states: use -enc perceiver-tf"
                    .into(),
            );
        }
        if self.d_feat != self.encoder.d_model {
            return Err(format!(
                "the T5 encoder reads the spectrogram directly: its d_model ({}) must equal the bins per frame ({}); set -nmel to {} or the encoder's d_model to {}",
                self.encoder.d_model, self.d_feat, self.encoder.d_model, self.d_feat
            ));
        }
        if self.encoder.d_model != self.decoder.d_model {
            return Err("the encoder and decoder must have the same d_model".into());
        }
        for (name, t) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            if t.d_model <= 0 || t.num_heads <= 0 || t.d_kv <= 0 || t.d_ff <= 0 || t.num_layers <= 0
            {
                return Err(format!("the {name}'s sizes must be positive"));
            }
        }
        Ok(())
    }
}

impl ModelConfig {
    /// The width of one spectral cross-attention token and the token count per frame, after
    /// the Res3B pre-encoder (3 poolings halve the bins 3 times).
    pub fn perceiver_kv(&self) -> (i64, i64) {
        let p = &self.perceiver;
        let f = self.d_feat / 8;
        if p.attention_to_channel {
            (f, p.conv_out_channels)
        } else {
            (p.conv_out_channels, f)
        }
    }

    fn check_perceiver(&self) -> Result<(), String> {
        let p = &self.perceiver;
        if self.d_feat % 8 != 0 {
            return Err(format!(
                "the Res3B pre-encoder halves the bins three times: {} bins per frame is not a multiple of 8",
                self.d_feat
            ));
        }
        for (name, v) in [
            ("-nl (latents)", p.num_latents),
            ("d_latent", p.d_latent),
            ("heads", p.num_heads),
            ("-npb (blocks)", p.num_blocks),
            ("-cout", p.conv_out_channels),
            ("-wf", p.ff_widening_factor),
        ] {
            if v <= 0 {
                return Err(format!(
                    "the Perceiver-TF's {name} must be positive, not {v}"
                ));
            }
        }
        if p.num_local < 0 || p.num_temporal < 0 {
            return Err("-npl and -npt must not be negative".into());
        }
        if p.d_latent % p.num_heads != 0 {
            return Err(format!(
                "d_latent {} is not a multiple of the {} heads",
                p.d_latent, p.num_heads
            ));
        }
        if p.ff_type == FfType::Moe && !(1..=p.moe_num_experts).contains(&p.moe_topk) {
            return Err(format!(
                "-kmoe {} must be between 1 and -nmoe {}",
                p.moe_topk, p.moe_num_experts
            ));
        }
        if self.decoder_type == DecoderType::MultiT5 && p.num_latents % self.num_channels != 0 {
            return Err(format!(
                "mc_shared_linear gives each of the {} channels the same number of latents: -nl {} must be a multiple of {}",
                self.num_channels, p.num_latents, self.num_channels
            ));
        }
        Ok(())
    }
}
