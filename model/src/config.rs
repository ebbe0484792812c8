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
        }
    }

    /// `num_max_positions` = max(feat_length, event_length) + 10, for both stacks.
    pub fn with_positions(mut self) -> ModelConfig {
        let n = self.feat_length.max(self.event_length) + 10;
        self.encoder.num_max_positions = n;
        self.decoder.num_max_positions = n;
        self
    }

    /// Checks the sizes that must agree.
    pub fn check(&self) -> Result<(), String> {
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
