//! YourMT3's `train.py` flags (spec section 3.4), with the same long names and single-dash
//! aliases (`-tk`, `-enc`, `-vit`, ...). The aliases are rewritten to their long form before
//! clap sees the arguments, so `-vit 100` is never read as `-v -i -t`. Flags of parts not
//! built yet (some pre-encoders, position encodings, schedules) are refused with "not built yet:
//! <flag>", never ignored.

use std::ffi::OsString;

use clap::Args;

/// YourMT3's single-dash aliases -> long flags.
pub const ALIASES: &[(&str, &str)] = &[
    ("-p", "--project"),
    ("-d", "--data-preset"),
    ("-amp", "--random-amp-range"),
    ("-iaug", "--stem-iaug-prob"),
    ("-xk", "--xaug-max-k"),
    ("-xtau", "--xaug-tau"),
    ("-xalpha", "--xaug-alpha"),
    ("-xnio", "--xaug-no-instr-overlap"),
    ("-xndo", "--xaug-no-drum-overlap"),
    ("-xiaug", "--uhat-intra-stem-augment"),
    ("-ps", "--pitch-shift-range"),
    ("-ac", "--audio-codec"),
    ("-hop", "--hop-length"),
    ("-nmel", "--n-mels"),
    ("-if", "--input-frames"),
    ("-sqr", "--sca-use-query-residual"),
    ("-enc", "--encoder-type"),
    ("-dec", "--decoder-type"),
    ("-preenc", "--pre-encoder-type"),
    ("-predec", "--pre-decoder-type"),
    ("-cout", "--conv-out-channels"),
    ("-tenc", "--task-cond-encoder"),
    ("-tdec", "--task-cond-decoder"),
    ("-df", "--d-feat"),
    ("-pt", "--pretrained"),
    ("-b", "--base-name"),
    ("-edr", "--encoder-dropout-rate"),
    ("-ddr", "--decoder-dropout-rate"),
    ("-epe", "--encoder-position-encoding-type"),
    ("-dpe", "--decoder-position-encoding-type"),
    ("-twe", "--tie-word-embedding"),
    ("-el", "--event-length"),
    ("-dl", "--d-latent"),
    ("-nl", "--num-latents"),
    ("-dpm", "--perceiver-tf-d-model"),
    ("-npb", "--num-perceiver-tf-blocks"),
    ("-npl", "--num-perceiver-tf-local-transformers-per-block"),
    ("-npt", "--num-perceiver-tf-temporal-transformers-per-block"),
    ("-atc", "--attention-to-channel"),
    ("-ln", "--layer-norm-type"),
    ("-ff", "--ff-layer-type"),
    ("-wf", "--ff-widening-factor"),
    ("-nmoe", "--moe-num-experts"),
    ("-kmoe", "--moe-topk"),
    ("-act", "--hidden-act"),
    ("-rt", "--rotary-type"),
    ("-rk", "--rope-apply-to-keys"),
    ("-rp", "--rope-partial-pe"),
    ("-dff", "--decoder-ff-layer-type"),
    ("-dwf", "--decoder-ff-widening-factor"),
    ("-tk", "--task"),
    ("-epv", "--eval-program-vocab"),
    ("-w", "--write-model-output"),
    ("-bsz", "--train-batch-size"),
    ("-pr", "--precision"),
    ("-st", "--strategy"),
    ("-sb", "--sync-batchnorm"),
    ("-se", "--train-num-samples-per-epoch"),
    ("-e", "--max-epochs"),
    ("-it", "--max-steps"),
    ("-vit", "--val-interval"),
    ("-lr", "--base-learning-rate"),
    ("-o", "--optimizer"),
    ("-s", "--scheduler"),
    ("-n", "--num-nodes"),
    ("-g", "--num-gpus"),
    ("-wb", "--wandb-mode"),
];

/// amt's global options that take a value (skipped when looking for the subcommand).
const GLOBAL_WITH_VALUE: &[&str] = &["--data-home", "--store", "--config", "--log-format"];

/// Rewrites YourMT3's aliases to their long form in the arguments of `amt train`,
/// `amt model info` and `amt model forward`; every other argument, and every other command,
/// is left as it is.
pub fn rewrite(args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut positionals: Vec<String> = Vec::new();
    let mut active = false;
    let mut skip_value = false;
    for (i, a) in args.into_iter().enumerate() {
        let s = a.to_string_lossy().into_owned();
        if i == 0 || !active {
            if i > 0 {
                if skip_value {
                    skip_value = false;
                } else if GLOBAL_WITH_VALUE.contains(&s.as_str()) {
                    skip_value = true;
                } else if !s.starts_with('-') {
                    positionals.push(s.clone());
                    active = matches!(
                        positionals
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()
                            .as_slice(),
                        ["train"] | ["model", "info"] | ["model", "forward"]
                    );
                }
            }
            out.push(a);
            continue;
        }
        let (flag, value) = match s.split_once('=') {
            Some((f, v)) if f.starts_with('-') && !f.starts_with("--") => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (s.clone(), None),
        };
        match ALIASES.iter().find(|(short, _)| *short == flag) {
            Some((_, long)) => match value {
                Some(v) => out.push(OsString::from(format!("{long}={v}"))),
                None => out.push(OsString::from(*long)),
            },
            None => out.push(a),
        }
    }
    out
}

/// The model and training flags of YourMT3's `train.py` (also read by `amt model info`).
#[derive(Debug, Clone, Default, Args)]
pub struct ModelFlags {
    /// The demo's small T5 (`amt demo`); any flag below still overrides it
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Task: mt3_full_plus, or mc13_full_plus_256 (13 channels x 256 tokens; -dec multi-t5)
    #[arg(long, value_name = "TASK")]
    pub task: Option<String>,
    /// Audio codec: melspec (YMT3+) or spec
    #[arg(long = "audio-codec", value_name = "CODEC")]
    pub audio_codec: Option<String>,
    /// STFT hop [default: 128]
    #[arg(long = "hop-length", value_name = "N")]
    pub hop_length: Option<i64>,
    /// Mel bands [default: 512]; the T5 encoder's d_model follows it
    #[arg(long = "n-mels", value_name = "N")]
    pub n_mels: Option<i64>,
    /// Samples per segment (only 32767 is built)
    #[arg(long = "input-frames", value_name = "N")]
    pub input_frames: Option<i64>,
    /// Encoder: t5, perceiver-tf or conformer
    #[arg(long = "encoder-type", value_name = "TYPE")]
    pub encoder_type: Option<String>,
    /// Decoder: t5, or multi-t5 (one channel per instrument group, shared weights)
    #[arg(long = "decoder-type", value_name = "TYPE")]
    pub decoder_type: Option<String>,
    #[arg(long = "pre-encoder-type", value_name = "TYPE")]
    pub pre_encoder_type: Option<String>,
    #[arg(long = "pre-decoder-type", value_name = "TYPE")]
    pub pre_decoder_type: Option<String>,
    #[arg(long = "conv-out-channels", value_name = "N")]
    pub conv_out_channels: Option<i64>,
    /// Task-conditional encoder (YourMT3: unused without task tokens)
    #[arg(long = "task-cond-encoder", value_name = "BOOL")]
    pub task_cond_encoder: Option<String>,
    #[arg(long = "task-cond-decoder", value_name = "BOOL")]
    pub task_cond_decoder: Option<String>,
    #[arg(long = "d-feat", value_name = "N")]
    pub d_feat: Option<String>,
    #[arg(long, value_name = "BOOL")]
    pub pretrained: Option<String>,
    /// YourMT3: a no-op; accepted, only t5-v1_1-small sizes
    #[arg(long = "base-name", value_name = "NAME")]
    pub base_name: Option<String>,
    #[arg(long = "encoder-dropout-rate", value_name = "P")]
    pub encoder_dropout_rate: Option<f64>,
    #[arg(long = "decoder-dropout-rate", value_name = "P")]
    pub decoder_dropout_rate: Option<f64>,
    #[arg(long = "encoder-position-encoding-type", value_name = "TYPE")]
    pub encoder_position_encoding_type: Option<String>,
    #[arg(long = "decoder-position-encoding-type", value_name = "TYPE")]
    pub decoder_position_encoding_type: Option<String>,
    /// Logit scaling: YourMT3's `-twe` is a no-op; here `1` keeps YourMT3's 1/d training
    /// scale (checkpoint compatibility), `0` (default) the single 1/sqrt(d)
    #[arg(long = "tie-word-embedding", value_name = "BOOL")]
    pub tie_word_embedding: Option<String>,
    /// Target tokens per segment [default: 1024]
    #[arg(long = "event-length", value_name = "N")]
    pub event_length: Option<i64>,
    #[arg(long = "d-latent", value_name = "N")]
    pub d_latent: Option<i64>,
    #[arg(long = "num-latents", value_name = "N")]
    pub num_latents: Option<i64>,
    #[arg(long = "perceiver-tf-d-model", value_name = "N")]
    pub perceiver_tf_d_model: Option<i64>,
    #[arg(long = "num-perceiver-tf-blocks", value_name = "N")]
    pub num_perceiver_tf_blocks: Option<i64>,
    #[arg(
        long = "num-perceiver-tf-local-transformers-per-block",
        value_name = "N"
    )]
    pub num_perceiver_tf_local: Option<i64>,
    #[arg(
        long = "num-perceiver-tf-temporal-transformers-per-block",
        value_name = "N"
    )]
    pub num_perceiver_tf_temporal: Option<i64>,
    #[arg(long = "sca-use-query-residual", value_name = "BOOL")]
    pub sca_use_query_residual: Option<String>,
    #[arg(long = "attention-to-channel", value_name = "BOOL")]
    pub attention_to_channel: Option<String>,
    #[arg(long = "layer-norm-type", value_name = "TYPE")]
    pub layer_norm_type: Option<String>,
    #[arg(long = "ff-layer-type", value_name = "TYPE")]
    pub ff_layer_type: Option<String>,
    #[arg(long = "ff-widening-factor", value_name = "N")]
    pub ff_widening_factor: Option<i64>,
    #[arg(long = "moe-num-experts", value_name = "N")]
    pub moe_num_experts: Option<i64>,
    #[arg(long = "moe-topk", value_name = "N")]
    pub moe_topk: Option<i64>,
    #[arg(long = "hidden-act", value_name = "ACT")]
    pub hidden_act: Option<String>,
    #[arg(long = "rotary-type", value_name = "TYPE")]
    pub rotary_type: Option<String>,
    #[arg(long = "rope-apply-to-keys", value_name = "BOOL")]
    pub rope_apply_to_keys: Option<String>,
    /// Rotate only part of each head (YourMT3's `-rp`)
    #[arg(long = "rope-partial-pe", value_name = "BOOL")]
    pub rope_partial_pe: Option<String>,
    /// amt: YourMT3's position-encoding quirks, which its released RoPE checkpoints need:
    /// rotary width = the head count (8; 4 with -rp 1), queries only (keys too with -rk 1);
    /// `alibit` on head 0 only. Default 0: the head's width (half with -rp 1), queries and
    /// keys, every head
    #[arg(long = "pe-compat", value_name = "BOOL")]
    pub pe_compat: Option<String>,
    #[arg(long = "decoder-ff-layer-type", value_name = "TYPE")]
    pub decoder_ff_layer_type: Option<String>,
    #[arg(long = "decoder-ff-widening-factor", value_name = "N")]
    pub decoder_ff_widening_factor: Option<i64>,
}

/// Training flags of `train.py`.
#[derive(Debug, Clone, Default, Args)]
pub struct TrainFlags {
    /// Project (YourMT3's log folder component; recorded with the run)
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Data preset or dataset(s), comma-separated [default: synth-demo]
    #[arg(long = "data-preset", value_name = "NAME")]
    pub data_preset: Option<String>,
    /// Stem gain range [default: 0.8 1.1; `1 1` disables; demo: off]
    #[arg(long = "random-amp-range", num_args = 2, value_name = "X")]
    pub random_amp_range: Option<Vec<f64>>,
    /// Intra-stem augmentation: keep probability per instrument [default: 0.7; 1 disables;
    /// demo: off]
    #[arg(long = "stem-iaug-prob", value_name = "P")]
    pub stem_iaug_prob: Option<f64>,
    /// Cross-dataset stem mixing: most external sources [default: 3; 0 disables; demo: off]
    #[arg(long = "xaug-max-k", value_name = "K")]
    pub xaug_max_k: Option<i64>,
    /// P(k) decay of cross-dataset mixing [default: 0.3]
    #[arg(long = "xaug-tau", value_name = "X")]
    pub xaug_tau: Option<f64>,
    /// P(k) shape (1: exponential) [default: 1]
    #[arg(long = "xaug-alpha", value_name = "X")]
    pub xaug_alpha: Option<f64>,
    /// External sources never bring an instrument the segment has [default: true]
    #[arg(long = "xaug-no-instr-overlap", value_name = "BOOL")]
    pub xaug_no_instr_overlap: Option<String>,
    /// Without -xnio: drop external drums when the segment has drums [default: true]
    #[arg(long = "xaug-no-drum-overlap", value_name = "BOOL")]
    pub xaug_no_drum_overlap: Option<String>,
    /// Intra-stem augmentation of the external sources too [default: true]
    #[arg(long = "uhat-intra-stem-augment", value_name = "BOOL")]
    pub uhat_intra_stem_augment: Option<String>,
    /// Pitch shift range in semitones, targets transposed [default: -2 2; `0 0` disables;
    /// demo: off]
    #[arg(
        long = "pitch-shift-range",
        num_args = 2,
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub pitch_shift_range: Option<Vec<i64>>,
    #[arg(long = "eval-program-vocab", value_name = "NAME")]
    pub eval_program_vocab: Option<String>,
    #[arg(long = "write-model-output", value_name = "BOOL")]
    pub write_model_output: Option<String>,
    /// Segments per step [default: 24, YourMT3's per GPU]
    #[arg(long = "train-batch-size", value_name = "N")]
    pub train_batch_size: Option<usize>,
    /// bf16-mixed (bf16 autocast on CUDA; float32 on the CPU), 32
    #[arg(long, value_name = "P")]
    pub precision: Option<String>,
    /// auto (one process), or ddp (ranks started by `amt launch` or torchrun)
    #[arg(long, value_name = "S")]
    pub strategy: Option<String>,
    /// BatchNorm statistics over all ranks' rows (the Perceiver-TF's pre-encoder; exact
    /// gradients) [default: false]
    #[arg(long = "sync-batchnorm", value_name = "BOOL")]
    pub sync_batchnorm: Option<String>,
    /// Samples per epoch (YourMT3: 90000); an epoch is this / batch steps
    #[arg(long = "train-num-samples-per-epoch", value_name = "N")]
    pub train_num_samples_per_epoch: Option<u64>,
    #[arg(long = "max-epochs", value_name = "N")]
    pub max_epochs: Option<i64>,
    /// Steps to train (also the cosine schedule's length) [default: 100000]
    #[arg(long = "max-steps", value_name = "N", allow_negative_numbers = true)]
    pub max_steps: Option<i64>,
    /// Validate every N steps [default: every epoch]
    #[arg(long = "val-interval", value_name = "N")]
    pub val_interval: Option<i64>,
    /// Learning rate [default: 1e-2 AdamWScale, 1e-3 AdamW]
    #[arg(long = "base-learning-rate", value_name = "LR")]
    pub base_learning_rate: Option<f64>,
    /// adamwscale (default) or adamw
    #[arg(long, value_name = "NAME")]
    pub optimizer: Option<String>,
    /// cosine (default) or constant
    #[arg(long, value_name = "NAME")]
    pub scheduler: Option<String>,
    #[arg(long = "num-nodes", value_name = "N")]
    pub num_nodes: Option<i64>,
    #[arg(long = "num-gpus", value_name = "N")]
    pub num_gpus: Option<String>,
    /// amt: samples between training segments' starts [default: 32767, no overlap].
    /// Overlapping segments stand in for YourMT3's random crops
    #[arg(long = "train-stride", value_name = "SAMPLES")]
    pub train_stride: Option<u64>,
    /// online / offline (logs to TensorBoard files and a table), disabled (table only)
    #[arg(long = "wandb-mode", value_name = "MODE")]
    pub wandb_mode: Option<String>,
}

/// A YourMT3 boolean flag value (`1`, `true`, `True`).
pub fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_become_long_flags_after_the_subcommand_only() {
        let args: Vec<OsString> = [
            "amt",
            "-v",
            "train",
            "x",
            "-vit",
            "5",
            "-tk=mt3_full_plus",
            "-it",
            "3",
            "--json",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let out: Vec<String> = rewrite(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            out,
            [
                "amt",
                "-v",
                "train",
                "x",
                "--val-interval",
                "5",
                "--task=mt3_full_plus",
                "--max-steps",
                "3",
                "--json"
            ]
        );
        let words = |v: &[&str]| -> Vec<String> {
            rewrite(v.iter().map(OsString::from).collect())
                .into_iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect()
        };
        // A global option's value named `train` is not the subcommand; other commands keep
        // their arguments.
        assert_eq!(
            words(&["amt", "--store", "train", "sql", "-d", "x"]),
            ["amt", "--store", "train", "sql", "-d", "x"]
        );
        assert_eq!(
            words(&["amt", "model", "info", "-enc", "t5"]),
            ["amt", "model", "info", "--encoder-type", "t5"]
        );
    }
}
