//! The YourMT3 models (spec section 7): spectrogram (B, T, F) -> encoder (T5, or the
//! Perceiver-TF with its pre-encoder and pre-decoder) -> T5 decoder, one channel or
//! `multi_t5`'s channels with shared weights (teacher-forced in training, greedy with a KV
//! cache in inference) -> LM head.
//!
//! State-dict names are YourMT3's (`amt/src/model/ymt3.py`): `encoder.encoder.*` (T5) or
//! `pre_encoder.*`, `encoder.*`, `pre_decoder.*` (Perceiver-TF); `decoder.decoder.*`,
//! `embed_tokens.weight`, `lm_head.lm_head.weight`. The LM head is a separate matrix
//! (YourMT3's `tie_word_embeddings=True` never ties them), so the trainable parameter count
//! at the default configuration is YourMT3's 44,672,000. Logits are scaled by
//! 1/sqrt(d_model) (see [`LogitScale`]).
//!
//! With `multi_t5`, targets are (B, C, L): the C channels run through the one decoder as
//! B·C sequences, each attending to its own channel of the encoder's memory (no channel
//! embedding, as in YourMT3); generation stops each channel at its own EOS.

use tch::nn::{self, Init, Module};
use tch::{Kind, Tensor};

use crate::config::{DecoderType, EncoderType, LogitScale, ModelConfig};
use crate::conformer::Conformer;
use crate::perceiver::{PerceiverTf, PreDecoder};
use crate::syncbn::SyncBn;
use crate::t5::{KvCache, Stack};

/// PAD, also the decoder start token.
pub const PAD: i64 = 0;
pub const EOS: i64 = 1;

/// The encoder side: everything from the spectrogram to the decoder's memory.
enum Encoder {
    T5(Stack),
    Perceiver(PerceiverTf, PreDecoder),
    Conformer(Conformer),
}

pub struct Ymt3 {
    pub cfg: ModelConfig,
    encoder: Encoder,
    decoder: Stack,
    embed_tokens: nn::Embedding,
    lm_head: nn::Linear,
}

/// Teacher-forced outputs.
pub struct Forward {
    /// (B, L, vocab), or (B, C, L, vocab) with channels.
    pub logits: Tensor,
    /// Mean cross-entropy over non-PAD targets (of all channels).
    pub loss: Tensor,
}

impl Ymt3 {
    pub fn new(root: &nn::Path, cfg: &ModelConfig) -> Result<Ymt3, String> {
        cfg.check()?;
        let d = cfg.decoder.d_model;
        let encoder = match cfg.encoder_type {
            EncoderType::T5 => Encoder::T5(Stack::new(
                root / "encoder" / "encoder",
                &cfg.encoder,
                false,
            )),
            EncoderType::Conformer => {
                Encoder::Conformer(Conformer::new(root / "encoder", &cfg.conformer))
            }
            EncoderType::PerceiverTf => {
                let p = &cfg.perceiver;
                let enc = PerceiverTf::new(
                    root / "pre_encoder",
                    root / "encoder",
                    p,
                    cfg.d_feat,
                    cfg.feat_length,
                );
                let pre = match cfg.decoder_type {
                    DecoderType::T5 => {
                        PreDecoder::linear(root / "pre_decoder", p.num_latents, p.d_latent, d)
                    }
                    DecoderType::MultiT5 => PreDecoder::multi_channel(
                        root / "pre_decoder",
                        p.num_latents,
                        p.d_latent,
                        d,
                        cfg.num_channels,
                    ),
                };
                Encoder::Perceiver(enc, pre)
            }
        };
        Ok(Ymt3 {
            cfg: cfg.clone(),
            encoder,
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

    /// Decoder channels (1, or 13 for `mc13_full_plus_256`).
    pub fn channels(&self) -> i64 {
        self.cfg.num_channels
    }

    /// The targets of (B, C, L) token rows as the model reads them: (B, L) for one channel.
    pub fn labels(&self, tokens: &Tensor) -> Tensor {
        match self.cfg.decoder_type {
            DecoderType::T5 => tokens.select(1, 0),
            DecoderType::MultiT5 => tokens.shallow_clone(),
        }
    }

    /// (B, T, F) spectrogram -> the encoder's output: (B, T, D) for T5, (B, T, K, D) for the
    /// Perceiver-TF.
    pub fn encode(&self, spec: &Tensor, train: bool) -> Tensor {
        match &self.encoder {
            Encoder::T5(s) => s.forward(spec, None, train),
            Encoder::Perceiver(p, _) => p.forward(spec, train, None),
            Encoder::Conformer(c) => c.forward(spec, train),
        }
    }

    /// The decoder's memory, one row per channel: (B·C, T, d_model).
    fn memory(&self, spec: &Tensor, train: bool) -> Tensor {
        self.memory_synced(spec, train, None)
    }

    fn memory_synced(&self, spec: &Tensor, train: bool, sync: Option<&SyncBn>) -> Tensor {
        match &self.encoder {
            Encoder::T5(s) => s.forward(spec, None, train),
            Encoder::Conformer(c) => c.forward(spec, train),
            Encoder::Perceiver(p, pre) => {
                let m = pre.forward(&p.forward(spec, train, sync));
                match m.dim() {
                    4 => {
                        let (b, c, t, d) = m.size4().expect("(B, C, T, D)");
                        m.reshape([b * c, t, d])
                    }
                    _ => m,
                }
            }
        }
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

    /// Teacher-forced logits and loss for (B, T, F) spectrograms and (B, L) int64 labels, or
    /// (B, C, L) with the model's C channels.
    pub fn forward(&self, spec: &Tensor, labels: &Tensor, train: bool) -> Forward {
        self.forward_synced(spec, labels, train, None)
    }

    /// Whether the model has BatchNorm layers (the Perceiver-TF's pre-encoder), which `-sb 1`
    /// synchronises over ranks.
    pub fn has_batchnorm(&self) -> bool {
        matches!(self.encoder, Encoder::Perceiver(..))
    }

    /// [`Ymt3::forward`] with the BatchNorm statistics summed over ranks by `sync` in
    /// training; call `sync.backward(&loss)` after it.
    pub fn forward_synced(
        &self,
        spec: &Tensor,
        labels: &Tensor,
        train: bool,
        sync: Option<&SyncBn>,
    ) -> Forward {
        let mem = self.memory_synced(spec, train, sync);
        let shape = labels.size();
        let flat = labels.reshape([-1, *shape.last().expect("(..., L)")]);
        assert_eq!(
            flat.size()[0],
            mem.size()[0],
            "labels {shape:?} for a model of {} channel(s)",
            self.channels()
        );
        let dec_in = self.embed_tokens.forward(&Self::shift_right(&flat));
        let dec = self.decoder.forward(&dec_in, Some(&mem), train);
        let logits = self.lm_head.forward(&(dec * self.training_scale()));
        let targets = flat.masked_fill(&flat.eq(PAD), -100);
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
        let mut out_shape = shape.clone();
        out_shape.push(self.cfg.vocab_size);
        Forward {
            logits: logits.view(out_shape.as_slice()),
            loss,
        }
    }

    /// Shapes generated rows back to (B, L) or (B, C, L).
    fn unflatten_rows(&self, rows: Tensor) -> Tensor {
        match self.cfg.decoder_type {
            DecoderType::T5 => rows,
            DecoderType::MultiT5 => {
                let (n, l) = rows.size2().expect("(N, L)");
                rows.view([n / self.channels(), self.channels(), l])
            }
        }
    }

    /// Greedy decoding of (B, T, F) spectrograms, up to `max_len` tokens each, with a KV
    /// cache; a sequence (a channel) stops at its EOS (later positions PAD) and decoding stops
    /// when all have. Returns (B, max_len) int64 tokens, or (B, C, max_len).
    pub fn generate(&self, spec: &Tensor, max_len: i64) -> Tensor {
        tch::no_grad(|| {
            let enc = self.memory(spec, false);
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
            self.unflatten_rows(out)
        })
    }

    /// Greedy decoding without the cache (the whole prefix through the decoder each step): the
    /// reference the cached path is tested against.
    pub fn generate_uncached(&self, spec: &Tensor, max_len: i64) -> Tensor {
        tch::no_grad(|| {
            let enc = self.memory(spec, false);
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
            let rows = if pad > 0 {
                Tensor::cat(
                    &[got, Tensor::full([b, pad], PAD, (Kind::Int64, device))],
                    1,
                )
            } else {
                got
            };
            self.unflatten_rows(rows)
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
