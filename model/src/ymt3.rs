//! YMT3+ (spec sections 7 and 7.4): spectrogram (B, T, F) -> T5 encoder -> T5 decoder
//! (teacher-forced in training, greedy with a KV cache in inference) -> LM head.
//!
//! State-dict names are YourMT3's (`amt/src/model/ymt3.py`): `encoder.encoder.*`,
//! `decoder.decoder.*`, `embed_tokens.weight`, `lm_head.lm_head.weight`. The LM head is a
//! separate matrix (YourMT3's `tie_word_embeddings=True` never ties them), so the trainable
//! parameter count at the default configuration is YourMT3's 44,672,000. Logits are scaled by
//! 1/sqrt(d_model) (see [`LogitScale`]).

use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

use crate::config::{LogitScale, ModelConfig};
use crate::t5::{KvCache, Stack};

/// PAD, also the decoder start token.
pub const PAD: i64 = 0;
pub const EOS: i64 = 1;

pub struct Ymt3 {
    pub cfg: ModelConfig,
    encoder: Stack,
    decoder: Stack,
    embed_tokens: nn::Embedding,
    lm_head: nn::Linear,
}

/// Teacher-forced outputs.
pub struct Forward {
    /// (B, L, vocab).
    pub logits: Tensor,
    /// Mean cross-entropy over non-PAD targets.
    pub loss: Tensor,
}

impl Ymt3 {
    pub fn new(root: &nn::Path, cfg: &ModelConfig) -> Result<Ymt3, String> {
        cfg.check()?;
        let d = cfg.decoder.d_model;
        Ok(Ymt3 {
            cfg: cfg.clone(),
            encoder: Stack::new(root / "encoder" / "encoder", &cfg.encoder, false),
            decoder: Stack::new(root / "decoder" / "decoder", &cfg.decoder, true),
            embed_tokens: nn::embedding(
                root / "embed_tokens",
                cfg.vocab_size,
                d,
                nn::EmbeddingConfig {
                    ws_init: Init::Randn {
                        mean: 0.0,
                        stdev: 1.0,
                    },
                    ..Default::default()
                },
            ),
            // PyTorch's nn.Linear default (Kaiming uniform), as YourMT3 leaves it.
            lm_head: nn::linear(
                root / "lm_head" / "lm_head",
                d,
                cfg.vocab_size,
                nn::LinearConfig {
                    bias: false,
                    ..Default::default()
                },
            ),
        })
    }

    /// (B, T, F) spectrogram -> (B, T, D) encoder states.
    pub fn encode(&self, spec: &Tensor, train: bool) -> Tensor {
        self.encoder.forward(spec, None, train)
    }

    /// Decoder input: the labels shifted right, starting with PAD (YourMT3 `_shift_right`).
    pub fn shift_right(labels: &Tensor) -> Tensor {
        let (b, l) = labels.size2().expect("(B, L)");
        let start = Tensor::full([b, 1], PAD, (Kind::Int64, labels.device()));
        Tensor::cat(&[start, labels.narrow(1, 0, l - 1)], 1)
    }

    fn training_scale(&self) -> f64 {
        let d = self.cfg.decoder.d_model as f64;
        match self.cfg.logit_scale {
            LogitScale::Sqrt => d.powf(-0.5),
            LogitScale::Yourmt3 => 1.0 / d,
        }
    }

    /// Teacher-forced logits and loss for (B, T, F) spectrograms and (B, L) int64 labels.
    pub fn forward(&self, spec: &Tensor, labels: &Tensor, train: bool) -> Forward {
        let enc = self.encode(spec, train);
        let dec_in = self.embed_tokens.forward(&Self::shift_right(labels));
        let dec = self.decoder.forward(&dec_in, Some(&enc), train);
        let logits = self.lm_head.forward(&(dec * self.training_scale()));
        let targets = labels.masked_fill(&labels.eq(PAD), -100);
        let loss = logits
            .view([-1, self.cfg.vocab_size])
            .to_kind(Kind::Float)
            .cross_entropy_loss::<Tensor>(
                &targets.view([-1]),
                None,
                tch::Reduction::Mean,
                -100,
                0.0,
            );
        Forward { logits, loss }
    }

    /// Greedy decoding of (B, T, F) spectrograms, up to `max_len` tokens each, with a KV
    /// cache; a sequence stops at its EOS (later positions PAD) and decoding stops when all
    /// have. Returns (B, max_len) int64 tokens.
    pub fn generate(&self, spec: &Tensor, max_len: i64) -> Tensor {
        tch::no_grad(|| {
            let enc = self.encode(spec, false);
            let b = enc.size()[0];
            let device = enc.device();
            let cross: Vec<(Tensor, Tensor)> = self
                .decoder
                .blocks
                .iter()
                .map(|blk| blk.cross_kv(&enc).expect("decoder blocks cross-attend"))
                .collect();
            let mut caches: Vec<KvCache> = (0..self.decoder.blocks.len())
                .map(|_| KvCache::default())
                .collect();
            let out = Tensor::full([b, max_len], PAD, (Kind::Int64, device));
            let mut last = Tensor::full([b, 1], PAD, (Kind::Int64, device));
            let mut done = Tensor::zeros([b], (Kind::Bool, device));
            let scale = (self.cfg.decoder.d_model as f64).powf(-0.5);
            for t in 0..max_len {
                let x = self.embed_tokens.forward(&last);
                let h = self.decoder.step(&x, t, &mut caches, &cross);
                let logits = self.lm_head.forward(&(h * scale));
                let next = logits.argmax(-1, false).view([b]);
                let next = next.masked_fill(&done, PAD);
                out.narrow(1, t, 1).copy_(&next.view([b, 1]));
                done = done.logical_or(&next.eq(EOS));
                last = next.view([b, 1]);
                if bool::try_from(done.all()).unwrap_or(false) {
                    break;
                }
            }
            out
        })
    }

    /// Greedy decoding without the cache (the whole prefix through the decoder each step): the
    /// reference the cached path is tested against.
    pub fn generate_uncached(&self, spec: &Tensor, max_len: i64) -> Tensor {
        tch::no_grad(|| {
            let enc = self.encode(spec, false);
            let b = enc.size()[0];
            let device = enc.device();
            let mut seq = Tensor::full([b, 1], PAD, (Kind::Int64, device));
            let mut done = Tensor::zeros([b], (Kind::Bool, device));
            let scale = (self.cfg.decoder.d_model as f64).powf(-0.5);
            for _ in 0..max_len {
                let h = self
                    .decoder
                    .forward(&self.embed_tokens.forward(&seq), Some(&enc), false);
                let l = h.size()[1];
                let logits = self.lm_head.forward(&(h.narrow(1, l - 1, 1) * scale));
                let next = logits.argmax(-1, false).view([b]).masked_fill(&done, PAD);
                done = done.logical_or(&next.eq(EOS));
                seq = Tensor::cat(&[seq, next.view([b, 1])], 1);
                if bool::try_from(done.all()).unwrap_or(false) {
                    break;
                }
            }
            let got = seq.narrow(1, 1, seq.size()[1] - 1);
            let pad = max_len - got.size()[1];
            if pad > 0 {
                Tensor::cat(
                    &[got, Tensor::full([b, pad], PAD, (Kind::Int64, device))],
                    1,
                )
            } else {
                got
            }
        })
    }
}

/// Trainable parameters of a var store.
pub fn trainable_params(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables()
        .iter()
        .map(|t| t.numel() as i64)
        .sum()
}
