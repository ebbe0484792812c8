//! From YourMT3's flags to what amt trains: the model configuration, the data, the optimiser,
//! the schedule, the augmentation. Every flag is either applied or refused: parts not built
//! yet fail with "not built yet: <flag>".

use amt_model::config::{
    Activation, DecoderType, EncoderType, FfType, LatentPe, LogitScale, ModelConfig,
    PerceiverConfig,
};
use amt_model::frontend::Codec;
use amt_model::optim::{AdamConfig, OptimizerKind, Schedule};
use serde::Serialize;

use amt_stages::presets::{Member, Presets};

use super::augment::AugmentPolicy;
use super::flags::{ModelFlags, TrainFlags, truthy};
use super::log::LogMode;

/// Everything a training run is made of (recorded in `runs/<id>/plan.json`).
#[derive(Debug, Clone, Serialize)]
pub struct TrainPlan {
    pub model: ModelConfig,
    /// The shards variant the run reads.
    pub codec: String,
    pub hop_length: i64,
    pub n_mels: i64,
    pub task: String,
    /// Samples between training segments (`None`: the evaluation layout).
    pub train_stride: Option<u64>,
    /// Dataset names (the data preset's members) and their sampling weights.
    pub data: Vec<(String, f64)>,
    /// The members of the data presets (`-d`): splits, weights and evaluation of each.
    pub members: Vec<Member>,
    /// The `-d` value the members come from.
    pub data_preset: String,
    /// Validation files per dataset the preset asks for (the smallest over `-d`'s presets).
    pub preset_val_max_files: Option<usize>,
    /// Rows per step of each rank (`-bsz`; YourMT3's per-GPU batch).
    pub batch_size: usize,
    /// Ranks training together (1 without data parallelism).
    pub world_size: usize,
    /// Rows per optimiser step over all ranks: what checkpoints depend on, so a run resumes
    /// with any world size that divides it.
    pub global_batch: usize,
    /// Steps to train.
    pub max_steps: i64,
    /// The cosine schedule's length.
    pub schedule_steps: i64,
    pub warmup_steps: i64,
    pub final_lr: f64,
    pub lr: f64,
    pub optimizer: AdamConfig,
    pub schedule: Schedule,
    pub clip_norm: f64,
    /// Validate every this many steps.
    pub val_interval: i64,
    /// bf16 autocast on CUDA (`-pr bf16-mixed`); the CPU computes in float32.
    pub bf16: bool,
    pub log_mode: LogMode,
    pub project: String,
    /// `-epv`: overrides every dataset's eval vocabulary in validation.
    pub eval_vocab: Option<String>,
    /// `-w`: write validation transcriptions as MIDI.
    pub write_outputs: bool,
    /// Training-time augmentation (`-iaug`, `-xk`, `-amp`, `-ps` and friends).
    pub augment: AugmentPolicy,
    /// `-sb 1`: BatchNorm statistics over all ranks' rows (the same as plain BatchNorm in one
    /// process).
    pub sync_batchnorm: bool,
}

/// What a checkpoint's weights are: the model and its front-end (stored in every checkpoint).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct ModelCard {
    pub model: ModelConfig,
    pub codec: String,
    pub hop_length: i64,
    pub n_mels: i64,
}

impl TrainPlan {
    pub fn card(&self) -> ModelCard {
        ModelCard {
            model: self.model.clone(),
            codec: self.codec.clone(),
            hop_length: self.hop_length,
            n_mels: self.n_mels,
        }
    }
}

/// A refusal: the flag and why.
fn not_built(flag: &str, value: &str, what: &str) -> String {
    format!("not built yet: {flag} {value} ({what})")
}

fn bad(flag: &str, value: &str, expected: &str) -> String {
    format!("{flag} {value}: expected {expected}")
}

/// The demo's training defaults (`--model demo`): sized to learn `synth-demo` in minutes on
/// two CPU cores. Any flag still overrides them.
pub struct DemoDefaults;

impl DemoDefaults {
    pub const N_MELS: i64 = 128;
    pub const BATCH: usize = 16;
    pub const MAX_STEPS: i64 = 2400;
    pub const WARMUP: i64 = 100;
    pub const LR: f64 = 1e-2;
    pub const VAL_INTERVAL: i64 = 600;
}

/// Resolves the flags (`None` = YourMT3's default, or the demo's with `--model demo`) for one
/// process, not checking the data-parallel flags against a world size.
pub fn resolve(m: &ModelFlags, t: &TrainFlags, warmup: Option<i64>) -> Result<TrainPlan, String> {
    resolve_for(m, t, warmup, None)
}

/// As [`resolve`], for a process of a job of `world` ranks (`Some(1)`: a single process that
/// trains): `-st`, `-n` and `-g` must agree with it.
pub fn resolve_for(
    m: &ModelFlags,
    t: &TrainFlags,
    warmup: Option<i64>,
    world: Option<usize>,
) -> Result<TrainPlan, String> {
    if let Some(w) = world {
        check_world(t, w)?;
    }
    let world_size = world.unwrap_or(1);
    let demo = match m.model.as_deref() {
        None | Some("ymt3+") | Some("yourmt3+") => false,
        Some("demo") => true,
        Some(other) => return Err(bad("--model", other, "`demo` or `ymt3+`")),
    };
    check_unbuilt(m, t)?;

    let codec_name = m.audio_codec.clone().unwrap_or_else(|| "melspec".into());
    let codec = Codec::parse(&codec_name)
        .ok_or_else(|| bad("--audio-codec", &codec_name, "melspec or spec"))?;
    let hop_length = m.hop_length.unwrap_or(codec.default_hop());
    if hop_length <= 0 {
        return Err(bad(
            "--hop-length",
            &hop_length.to_string(),
            "a positive hop",
        ));
    }
    let n_mels = m
        .n_mels
        .unwrap_or(if demo { DemoDefaults::N_MELS } else { 512 });
    let task = m.task.clone().unwrap_or_else(|| "mt3_full_plus".into());
    let encoder_type = match m
        .encoder_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("t5") => EncoderType::T5,
        Some("perceiver-tf") | Some("perceiver_tf") => EncoderType::PerceiverTf,
        Some("conformer") => EncoderType::Conformer,
        Some(other) => {
            return Err(bad(
                "--encoder-type",
                other,
                "t5, perceiver-tf or conformer",
            ));
        }
    };
    let decoder_type = match m
        .decoder_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("t5") => DecoderType::T5,
        Some("multi-t5") | Some("multi_t5") => DecoderType::MultiT5,
        Some(other) => return Err(bad("--decoder-type", other, "t5 or multi-t5")),
    };
    let task_def = amt_symbolic::tokenizer::Task::from_name(&task)
        .map_err(|_| bad("--task", &task, "mt3_full_plus or mc13_full_plus_256"))?;
    let channels = task_def.num_channels as i64;
    match (decoder_type, channels) {
        (DecoderType::T5, c) if c > 1 => {
            return Err(format!(
                "--task {task} has {c} channels: it needs -dec multi-t5 (and -enc perceiver-tf)"
            ));
        }
        (DecoderType::MultiT5, 1) => {
            return Err(format!(
                "-dec multi-t5 decodes one channel per instrument group: use -tk mc13_full_plus_256, not {task}"
            ));
        }
        _ => {}
    }
    if let Some(frames) = m.input_frames
        && frames != 32767
    {
        return Err(not_built(
            "--input-frames",
            &frames.to_string(),
            "segments other than 32767 samples",
        ));
    }

    let mut model = if demo {
        ModelConfig::demo()
    } else {
        ModelConfig::default()
    };
    let probe =
        amt_model::frontend::FrontEnd::with_mels(codec, hop_length, n_mels, tch::Device::Cpu);
    model.feat_length = probe.frames(amt_symbolic::tokenizer::SEGMENT_SAMPLES as i64);
    model.d_feat = probe.bins();
    model.encoder_type = encoder_type;
    model.decoder_type = decoder_type;
    model.num_channels = channels;
    if !demo || channels > 1 {
        model.event_length = task_def.max_len as i64;
    }
    if let Some(d) = &m.d_feat
        && d != "auto"
    {
        let v: i64 = d
            .parse()
            .map_err(|_| bad("--d-feat", d, "auto or a number"))?;
        if v != model.d_feat {
            return Err(not_built(
                "--d-feat",
                d,
                "a pre-encoder projecting the spectrogram to another width",
            ));
        }
    }
    if encoder_type == EncoderType::PerceiverTf {
        model.perceiver = perceiver_config(m)?;
        if let Some(p) = m.encoder_dropout_rate {
            model.perceiver.dropout_rate = p;
        }
        // The pre-decoder projects to the decoder's width; the T5 encoder sizes are unused.
    } else if encoder_type == EncoderType::Conformer {
        if let Some(p) = m.encoder_dropout_rate {
            model.conformer.dropout_rate = p;
        }
        if let Some(a) = &m.hidden_act {
            model.conformer.hidden_act = Activation::parse(a).ok_or_else(|| {
                bad(
                    "--hidden-act",
                    a,
                    "gelu, gelu_new, relu, silu, tanh or sigmoid",
                )
            })?;
        }
        // No pre-encoder: the Conformer is as wide as the spectrogram (512 mel bins in
        // YourMT3), and the decoder reads it directly.
        model.conformer.d_model = model.d_feat;
        if let Some(wf) = m.ff_widening_factor {
            model.conformer.intermediate_size = model.conformer.d_model * wf;
        }
        if model.decoder.d_model != model.d_feat {
            return Err(format!(
                "the T5 decoder reads the Conformer's output directly, so its width ({}) must equal the bins per frame ({}); use -nmel {}",
                model.decoder.d_model, model.d_feat, model.decoder.d_model
            ));
        }
    } else if model.encoder.d_model != model.d_feat {
        // The T5 encoder reads the spectrogram bins directly: its width follows them.
        return Err(format!(
            "the T5 encoder reads the spectrogram directly, so its width ({}) must equal the bins per frame ({}); use -nmel {} (or the demo model with -nmel {})",
            model.encoder.d_model,
            model.d_feat,
            model.encoder.d_model,
            ModelConfig::demo().encoder.d_model
        ));
    }
    if let Some(l) = m.event_length {
        let most = task_def.max_len as i64;
        if !(2..=most).contains(&l) {
            return Err(bad(
                "--event-length",
                &l.to_string(),
                &format!("2 to {most} (the task's tokens per channel)"),
            ));
        }
        model.event_length = l;
    }
    if let Some(p) = m.encoder_dropout_rate {
        model.encoder.dropout_rate = p;
    }
    if let Some(p) = m.decoder_dropout_rate {
        model.decoder.dropout_rate = p;
    }
    if let Some(wf) = m.ff_widening_factor
        && encoder_type == EncoderType::T5
    {
        model.encoder.d_ff = model.encoder.d_model * wf;
    }
    if let Some(wf) = m.decoder_ff_widening_factor {
        model.decoder.d_ff = model.decoder.d_model * wf;
    }
    if let Some(v) = &m.tie_word_embedding {
        model.logit_scale = if truthy(v) {
            LogitScale::Yourmt3
        } else {
            LogitScale::Sqrt
        };
    }
    let model = model.with_positions();
    model.check()?;

    let optimizer_name = t.optimizer.clone().unwrap_or_else(|| "adamwscale".into());
    let kind = OptimizerKind::parse(&optimizer_name).ok_or_else(|| {
        match optimizer_name.to_ascii_lowercase().as_str() {
            "adafactor" | "cpuadam" | "dadaptadam" => not_built(
                "--optimizer",
                &optimizer_name,
                "only adamwscale and adamw are built",
            ),
            _ => bad("--optimizer", &optimizer_name, "adamwscale or adamw"),
        }
    })?;
    let schedule = match t.scheduler.as_deref().unwrap_or("cosine") {
        "cosine" => Schedule::Cosine,
        "constant" => Schedule::Constant,
        "legacy" => {
            return Err(not_built(
                "--scheduler",
                "legacy",
                "only cosine and constant",
            ));
        }
        other => return Err(bad("--scheduler", other, "cosine or constant")),
    };
    let lr = t.base_learning_rate.unwrap_or(if demo {
        DemoDefaults::LR
    } else {
        kind.default_lr()
    });
    let batch_size = t
        .train_batch_size
        .unwrap_or(if demo { DemoDefaults::BATCH } else { 24 });
    if batch_size == 0 {
        return Err(bad("--train-batch-size", "0", "at least 1"));
    }
    let samples_per_epoch = t.train_num_samples_per_epoch.unwrap_or(90_000);
    // YourMT3 (Lightning) divides an epoch's steps by the world size.
    let steps_per_epoch = (samples_per_epoch / (batch_size * world_size) as u64).max(1) as i64;
    let max_steps = match t.max_steps {
        Some(n) if n > 0 => n,
        Some(-1) | None if demo && t.max_epochs.is_none() => DemoDefaults::MAX_STEPS,
        Some(-1) | None => t.max_epochs.unwrap_or(1000).max(1) * steps_per_epoch,
        Some(n) => return Err(bad("--max-steps", &n.to_string(), "a positive count or -1")),
    };
    let schedule_steps = match t.max_steps {
        Some(n) if n > 0 => n,
        _ if demo => max_steps,
        _ => 100_000,
    };
    let val_interval = t.val_interval.unwrap_or(if demo {
        DemoDefaults::VAL_INTERVAL
    } else {
        steps_per_epoch
    });
    if val_interval <= 0 {
        return Err(bad(
            "--val-interval",
            &val_interval.to_string(),
            "a positive step count",
        ));
    }
    let bf16 = match t.precision.as_deref().unwrap_or("bf16-mixed") {
        "bf16-mixed" | "bf16" => true,
        "32" | "32-true" => false,
        other => {
            return Err(not_built(
                "--precision",
                other,
                "only bf16-mixed (bf16 autocast on CUDA) and 32",
            ));
        }
    };
    let log_mode = match t.wandb_mode.as_deref() {
        None => LogMode::TableAndTensorboard,
        Some(m) => LogMode::parse(m)
            .ok_or_else(|| bad("--wandb-mode", m, "online, offline or disabled"))?,
    };
    if let Some(v) = &t.eval_program_vocab {
        amt_metrics::vocab::eval_vocab(v)
            .map_err(|e| bad("--eval-program-vocab", v, &e.to_string()))?;
    }
    let data_preset = t
        .data_preset
        .clone()
        .unwrap_or_else(|| "synth-demo".into())
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(",");
    let (members, preset_val_max_files) = data_members(&data_preset)?;
    let data = members
        .iter()
        .map(|m| (m.dataset.clone(), m.weight))
        .collect::<Vec<_>>();
    if t.train_stride == Some(0) {
        return Err(bad("--train-stride", "0", "at least 1 sample"));
    }
    let augment = augment_policy(t, demo)?;
    Ok(TrainPlan {
        model,
        codec: codec.name().to_string(),
        hop_length,
        n_mels,
        task,
        train_stride: t
            .train_stride
            .filter(|&s| s < amt_symbolic::tokenizer::SEGMENT_SAMPLES as u64),
        data,
        members,
        data_preset,
        preset_val_max_files,
        batch_size,
        world_size,
        global_batch: batch_size * world_size,
        max_steps,
        schedule_steps,
        warmup_steps: warmup.unwrap_or(if demo { DemoDefaults::WARMUP } else { 1000 }),
        final_lr: 1e-5,
        lr,
        optimizer: AdamConfig::yourmt3(kind),
        schedule,
        clip_norm: 1.0,
        val_interval,
        bf16,
        log_mode,
        project: t.project.clone().unwrap_or_else(|| "ymt3".into()),
        eval_vocab: t.eval_program_vocab.clone(),
        write_outputs: t.write_model_output.as_deref().is_some_and(truthy),
        augment,
        sync_batchnorm: t.sync_batchnorm.as_deref().is_some_and(truthy),
    })
}

/// The augmentation flags: YourMT3's defaults (`config.py`) for its model, everything off for
/// `--model demo` (which learns the synth demo in minutes from its shards); a flag given
/// always wins.
fn augment_policy(t: &TrainFlags, demo: bool) -> Result<AugmentPolicy, String> {
    let mut p = if demo {
        AugmentPolicy::off()
    } else {
        AugmentPolicy::yourmt3()
    };
    if let Some(r) = &t.random_amp_range {
        p.amp_range = (r[0], r[1]);
    }
    if let Some(v) = t.stem_iaug_prob {
        p.stem_iaug_prob = v;
    }
    if let Some(k) = t.xaug_max_k {
        p.xaug_max_k = usize::try_from(k)
            .map_err(|_| bad("--xaug-max-k", &k.to_string(), "0 or more sources"))?;
    }
    if let Some(v) = t.xaug_tau {
        p.xaug_tau = v;
    }
    if let Some(v) = t.xaug_alpha {
        p.xaug_alpha = v;
    }
    for (v, dst) in [
        (&t.xaug_no_instr_overlap, &mut p.no_instr_overlap),
        (&t.xaug_no_drum_overlap, &mut p.no_drum_overlap),
        (&t.uhat_intra_stem_augment, &mut p.uhat_intra_stem),
    ] {
        if let Some(v) = v {
            *dst = truthy(v);
        }
    }
    if let Some(r) = &t.pitch_shift_range {
        let to_i32 = |x: i64| i32::try_from(x).unwrap_or(i32::MAX);
        p.pitch_shift = (to_i32(r[0]), to_i32(r[1]));
    }
    p.check()?;
    Ok(p)
}

/// The Perceiver-TF's configuration from its flags (spec section 3.2 and 7.2). Where
/// YourMT3 writes a key PerceiverTFConfig never reads (`-dl`, `-ln`, `-rt`), amt applies the
/// flag's meaning or refuses the value with the reason.
fn perceiver_config(m: &ModelFlags) -> Result<PerceiverConfig, String> {
    let mut p = PerceiverConfig::default();
    let positive = |flag: &str, v: i64| -> Result<i64, String> {
        if v > 0 {
            Ok(v)
        } else {
            Err(bad(flag, &v.to_string(), "a positive number"))
        }
    };
    if let Some(v) = m.num_latents {
        p.num_latents = positive("--num-latents", v)?;
    }
    if let Some(v) = m.d_latent {
        p.d_latent = positive("--d-latent", v)?;
    }
    if let Some(v) = m.perceiver_tf_d_model
        && v != p.d_latent
    {
        return Err(not_built(
            "--perceiver-tf-d-model",
            &v.to_string(),
            "a model width other than the latents' (-dl); YourMT3's `q` default",
        ));
    }
    if let Some(v) = m.num_perceiver_tf_blocks {
        p.num_blocks = positive("--num-perceiver-tf-blocks", v)?;
    }
    if let Some(v) = m.num_perceiver_tf_local {
        p.num_local = v.max(0);
    }
    if let Some(v) = m.num_perceiver_tf_temporal {
        p.num_temporal = v.max(0);
    }
    if let Some(v) = m.conv_out_channels {
        p.conv_out_channels = positive("--conv-out-channels", v)?;
    }
    if let Some(v) = &m.sca_use_query_residual {
        p.sca_use_query_residual = truthy(v);
    }
    if let Some(v) = &m.attention_to_channel {
        p.attention_to_channel = truthy(v);
    }
    if let Some(v) = &m.ff_layer_type {
        p.ff_type = match v.to_ascii_lowercase().as_str() {
            "mlp" => FfType::Mlp,
            "gmlp" => FfType::Gmlp,
            "moe" => FfType::Moe,
            _ => return Err(bad("--ff-layer-type", v, "mlp, gmlp or moe")),
        };
    }
    if let Some(v) = m.ff_widening_factor {
        p.ff_widening_factor = positive("--ff-widening-factor", v)?;
    }
    if let Some(v) = m.moe_num_experts {
        p.moe_num_experts = positive("--moe-num-experts", v)?;
    }
    if let Some(v) = m.moe_topk {
        p.moe_topk = positive("--moe-topk", v)?;
    }
    if let Some(v) = &m.hidden_act {
        p.hidden_act = Activation::parse(v).ok_or_else(|| {
            bad(
                "--hidden-act",
                v,
                "gelu, gelu_new, relu, silu (swish), tanh or sigmoid",
            )
        })?;
    }
    if let Some(v) = &m.encoder_position_encoding_type {
        p.position_encoding = LatentPe::parse(v).ok_or_else(|| {
            bad(
                "--encoder-position-encoding-type",
                v,
                "trainable (tkd), td, tk, kdt, alibi, alibit, rope or none",
            )
        })?;
    }
    if let Some(v) = &m.rope_apply_to_keys {
        p.rope_apply_to_keys = truthy(v);
    }
    if let Some(v) = &m.rope_partial_pe {
        p.rope_partial_pe = truthy(v);
    }
    if let Some(v) = &m.pe_compat {
        p.pe_quirks = truthy(v);
    }
    if let Some(v) = &m.layer_norm_type
        && !matches!(v.as_str(), "layer_norm" | "LayerNorm")
    {
        // YourMT3 writes `layer_norm`, a key the Perceiver never reads: its released models,
        // `rms` in the name or not, use nn.LayerNorm.
        return Err(not_built(
            "--layer-norm-type",
            v,
            "only layer_norm (YourMT3 ignores -ln; all its models use LayerNorm)",
        ));
    }
    if let Some(v) = &m.rotary_type
        && v != "ppl"
    {
        // YourMT3 writes `rotary_type_*`; the Perceiver reads `rope_type_*`: always pixel,
        // pixel, lang.
        return Err(not_built(
            "--rotary-type",
            v,
            "only ppl (pixel, pixel, lang: what YourMT3 uses whatever -rt says)",
        ));
    }
    Ok(p)
}

/// The members of `-d`: comma-separated data presets (YourMT3's names, `amt presets`) or
/// dataset names (a dataset no preset names: its official splits, weight 1); and the presets'
/// `val_max_num_files`, if any gives one.
fn data_members(list: &str) -> Result<(Vec<Member>, Option<usize>), String> {
    let presets = Presets::bundled();
    let mut out = Vec::new();
    let mut val_max: Option<usize> = None;
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if presets.single.contains_key(name) || presets.multi.contains_key(name) {
            let r = presets.resolve(name)?;
            if let Some(v) = r.val_max_num_files {
                val_max = Some(val_max.map_or(v, |m| m.min(v)));
            }
            out.extend(r.members);
        } else if presets.dropped.contains_key(name) {
            return Err(presets.resolve(name).unwrap_err());
        } else {
            out.push(Member::plain(name));
        }
    }
    if out.is_empty() {
        return Err(bad("--data-preset", "", "a preset or dataset name"));
    }
    let trains = out.iter().filter(|m| !m.train.is_empty()).count();
    if trains == 0 {
        return Err(format!(
            "--data-preset {list}: no member has training data (an evaluation preset)"
        ));
    }
    Ok((out, val_max))
}

/// `-st`, `-n` and `-g` against the world size this process was started in.
fn check_world(t: &TrainFlags, world: usize) -> Result<(), String> {
    let gpus = match t.num_gpus.as_deref() {
        None | Some("auto") | Some("-1") => None,
        Some(g) => Some(
            g.parse::<usize>()
                .map_err(|_| bad("--num-gpus", g, "a count or auto"))?
                .max(1),
        ),
    };
    let nodes = match t.num_nodes {
        None => 1,
        Some(n) if n >= 1 => n as usize,
        Some(n) => return Err(bad("--num-nodes", &n.to_string(), "at least 1")),
    };
    let asked = gpus.map(|g| g * nodes).or((nodes > 1).then_some(nodes));
    if let Some(asked) = asked
        && asked != world
    {
        let how = if world == 1 {
            format!(
                "start the ranks with `amt launch --nproc {} -- train ...` (on each of the {nodes} machine(s), with --nnodes {nodes} --node-rank N --master-addr HOST), or with torchrun",
                gpus.unwrap_or(1)
            )
        } else {
            format!("this process is one of WORLD_SIZE={world} ranks")
        };
        return Err(format!(
            "-n {nodes} -g {} asks for {asked} ranks, but {how}",
            gpus.map_or("auto".to_string(), |g| g.to_string())
        ));
    }
    Ok(())
}

/// Refuses the flags of parts not built yet (a value that selects what is built, or disables
/// the part, is accepted).
fn check_unbuilt(m: &ModelFlags, t: &TrainFlags) -> Result<(), String> {
    let is = |v: &Option<String>, ok: &[&str]| match v {
        None => true,
        Some(v) => ok.iter().any(|o| o.eq_ignore_ascii_case(v)),
    };
    let perceiver = m.encoder_type.as_deref().is_some_and(|e| {
        e.eq_ignore_ascii_case("perceiver-tf") || e.eq_ignore_ascii_case("perceiver_tf")
    });
    let conformer = m
        .encoder_type
        .as_deref()
        .is_some_and(|e| e.eq_ignore_ascii_case("conformer"));
    let multi = m
        .decoder_type
        .as_deref()
        .is_some_and(|d| d.eq_ignore_ascii_case("multi-t5") || d.eq_ignore_ascii_case("multi_t5"));
    let (pre_enc, pre_dec, enc_pe): (&[&str], &[&str], &[&str]) = if perceiver {
        (
            &["default", "conv", "res3b"],
            if multi {
                &["default", "mc_shared_linear"]
            } else {
                &["default", "linear"]
            },
            &[
                "default",
                "trainable",
                "tkd",
                "td",
                "tk",
                "kdt",
                "alibi",
                "alibit",
                "rope",
                "none",
                "0",
            ],
        )
    } else {
        (
            &["default", "none"],
            &["default", "none"],
            &["default", "sinusoidal"],
        )
    };
    let checks: [(&str, &Option<String>, &[&str], &str); 6] = [
        (
            "--pre-encoder-type",
            &m.pre_encoder_type,
            pre_enc,
            "other pre-encoders (the Perceiver-TF has Res3B, T5 none)",
        ),
        (
            "--pre-decoder-type",
            &m.pre_decoder_type,
            pre_dec,
            "other pre-decoders (linear for one channel, mc_shared_linear for multi-T5)",
        ),
        (
            "--encoder-position-encoding-type",
            &m.encoder_position_encoding_type,
            enc_pe,
            "this position encoding for this encoder (T5: sinusoidal; its `trainable` relative bias is not built)",
        ),
        (
            "--decoder-position-encoding-type",
            &m.decoder_position_encoding_type,
            &["default", "sinusoidal"],
            "the T5 decoder's trainable relative bias",
        ),
        (
            "--decoder-ff-layer-type",
            &m.decoder_ff_layer_type,
            &["t5_gmlp"],
            "MoE feed-forward layers in T5 blocks",
        ),
        (
            "--pretrained",
            &m.pretrained,
            &["false", "0"],
            "pretrained weights (YourMT3 raises too)",
        ),
    ];
    for (flag, value, ok, what) in checks {
        if !is(value, ok) {
            return Err(not_built(flag, value.as_deref().unwrap_or(""), what));
        }
    }
    if !perceiver {
        if !is(&m.ff_layer_type, &["t5_gmlp", "mlp"]) {
            return Err(not_built(
                "--ff-layer-type",
                m.ff_layer_type.as_deref().unwrap_or(""),
                "MoE and gMLP in T5 blocks (they are the Perceiver-TF's: -enc perceiver-tf)",
            ));
        }
        if !conformer && !is(&m.hidden_act, &["gelu", "gelu_new"]) {
            return Err(format!(
                "--hidden-act {}: the T5 stacks use gelu_new; -act sets the Perceiver-TF's activation (-enc perceiver-tf)",
                m.hidden_act.as_deref().unwrap_or("")
            ));
        }
        let only_perceiver: [(&str, bool); 16] = [
            ("--d-latent", m.d_latent.is_some()),
            ("--num-latents", m.num_latents.is_some()),
            ("--perceiver-tf-d-model", m.perceiver_tf_d_model.is_some()),
            (
                "--num-perceiver-tf-blocks",
                m.num_perceiver_tf_blocks.is_some(),
            ),
            (
                "--num-perceiver-tf-local-transformers-per-block",
                m.num_perceiver_tf_local.is_some(),
            ),
            (
                "--num-perceiver-tf-temporal-transformers-per-block",
                m.num_perceiver_tf_temporal.is_some(),
            ),
            (
                "--sca-use-query-residual",
                m.sca_use_query_residual.is_some(),
            ),
            ("--attention-to-channel", m.attention_to_channel.is_some()),
            ("--rotary-type", m.rotary_type.is_some()),
            ("--rope-apply-to-keys", m.rope_apply_to_keys.is_some()),
            ("--rope-partial-pe", m.rope_partial_pe.is_some()),
            ("--pe-compat", m.pe_compat.is_some()),
            ("--layer-norm-type", m.layer_norm_type.is_some()),
            ("--moe-num-experts", m.moe_num_experts.is_some()),
            ("--moe-topk", m.moe_topk.is_some()),
            ("--conv-out-channels", m.conv_out_channels.is_some()),
        ];
        for (flag, given) in only_perceiver {
            if given {
                return Err(format!(
                    "{flag} is an option of the Perceiver-TF encoder: add -enc perceiver-tf"
                ));
            }
        }
    }
    if let Some(b) = &m.base_name
        && !b.contains("t5-v1_1-small")
    {
        return Err(not_built("--base-name", b, "only t5-v1_1-small sizes"));
    }
    // Distributed training: only strategies that are plain data parallelism.
    if let Some(s) = &t.strategy
        && !matches!(
            s.as_str(),
            "auto" | "ddp" | "ddp_find_unused_parameters_true"
        )
    {
        return Err(not_built(
            "--strategy",
            s,
            "only auto and ddp (libtorch's c10d)",
        ));
    }
    if t.sync_batchnorm.as_deref().is_some_and(truthy) && !perceiver {
        // YMT3+'s T5 stacks have no batchnorm.
        tracing::info!("--sync-batchnorm: this model has no batchnorm layers to synchronise");
    }
    for (flag, v) in [
        ("--task-cond-encoder", &m.task_cond_encoder),
        ("--task-cond-decoder", &m.task_cond_decoder),
    ] {
        if v.as_deref().is_some_and(|v| !truthy(v)) {
            // YourMT3 ignores these without task tokens; so does amt, and says so.
            tracing::info!("{flag} has no effect without task tokens (as in YourMT3)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ymt3_plus() {
        let p = resolve(&ModelFlags::default(), &TrainFlags::default(), None).unwrap();
        assert_eq!(p.model, ModelConfig::default().with_positions());
        assert_eq!(
            (p.batch_size, p.lr, p.warmup_steps, p.schedule_steps),
            (24, 1e-2, 1000, 100_000)
        );
        assert_eq!(p.val_interval, 3750);
        assert!(p.bf16);
        assert_eq!(p.augment, AugmentPolicy::yourmt3());
    }

    /// Augmentation: YourMT3's defaults, off for the demo model, each flag applied, and the
    /// values that disable it; out-of-range values refused by flag.
    #[test]
    fn augmentation_flags_resolve() {
        let demo = ModelFlags {
            model: Some("demo".into()),
            ..Default::default()
        };
        let p = resolve(&demo, &TrainFlags::default(), None).unwrap();
        assert!(!p.augment.is_active());
        let t = TrainFlags {
            pitch_shift_range: Some(vec![-3, 1]),
            stem_iaug_prob: Some(0.5),
            xaug_max_k: Some(5),
            xaug_no_instr_overlap: Some("false".into()),
            random_amp_range: Some(vec![0.5, 1.5]),
            ..Default::default()
        };
        let p = resolve(&demo, &t, None).unwrap();
        assert_eq!(p.augment.pitch_shift, (-3, 1));
        assert_eq!(p.augment.stem_iaug_prob, 0.5);
        assert_eq!(p.augment.xaug_max_k, 5);
        assert!(!p.augment.no_instr_overlap && p.augment.no_drum_overlap);
        assert_eq!(p.augment.amp_range, (0.5, 1.5));
        let off = TrainFlags {
            pitch_shift_range: Some(vec![0, 0]),
            stem_iaug_prob: Some(1.0),
            xaug_max_k: Some(0),
            random_amp_range: Some(vec![1.0, 1.0]),
            ..Default::default()
        };
        let p = resolve(&ModelFlags::default(), &off, None).unwrap();
        assert!(!p.augment.is_active());
        for (t, flag) in [
            (
                TrainFlags {
                    pitch_shift_range: Some(vec![2, -2]),
                    ..Default::default()
                },
                "--pitch-shift-range",
            ),
            (
                TrainFlags {
                    stem_iaug_prob: Some(1.5),
                    ..Default::default()
                },
                "--stem-iaug-prob",
            ),
            (
                TrainFlags {
                    xaug_max_k: Some(-1),
                    ..Default::default()
                },
                "--xaug-max-k",
            ),
        ] {
            let e = resolve(&demo, &t, None).unwrap_err();
            assert!(e.contains(flag), "{e}");
        }
    }

    #[test]
    fn unbuilt_parts_are_refused_by_name() {
        let m = ModelFlags {
            decoder_position_encoding_type: Some("trainable".into()),
            ..Default::default()
        };
        let e = resolve(&m, &TrainFlags::default(), None).unwrap_err();
        assert!(
            e.starts_with("not built yet: --decoder-position-encoding-type trainable"),
            "{e}"
        );
        let t = TrainFlags {
            pitch_shift_range: Some(vec![0, 0]),
            strategy: Some("deepspeed".into()),
            ..Default::default()
        };
        let e = resolve(&ModelFlags::default(), &t, None).unwrap_err();
        assert!(e.starts_with("not built yet: --strategy deepspeed"), "{e}");
    }

    /// A preset's `val_max_num_files` reaches the plan (used when `--val-max-num-files` is not
    /// given); a plain dataset has none.
    #[test]
    fn a_presets_validation_file_count_reaches_the_plan() {
        let t = |d: &str| TrainFlags {
            data_preset: Some(d.into()),
            ..Default::default()
        };
        let m = ModelFlags::default();
        let p = resolve(&m, &t("all_cross_final"), None).unwrap();
        assert_eq!((p.members.len(), p.preset_val_max_files), (10, Some(20)));
        let p = resolve(&m, &t("synth-demo"), None).unwrap();
        assert_eq!(p.preset_val_max_files, None);
    }

    #[test]
    fn sync_batchnorm_reaches_the_plan() {
        let m = ModelFlags {
            encoder_type: Some("perceiver-tf".into()),
            audio_codec: Some("spec".into()),
            hop_length: Some(300),
            ..Default::default()
        };
        let t = TrainFlags {
            sync_batchnorm: Some("1".into()),
            ..Default::default()
        };
        assert!(resolve_for(&m, &t, None, Some(1)).unwrap().sync_batchnorm);
        assert!(resolve_for(&m, &t, None, Some(2)).unwrap().sync_batchnorm);
        assert!(
            !resolve(&m, &TrainFlags::default(), None)
                .unwrap()
                .sync_batchnorm
        );
    }

    #[test]
    fn data_parallel_flags_must_match_the_world() {
        let t = |n: Option<i64>, g: Option<&str>| TrainFlags {
            strategy: Some("ddp".into()),
            num_nodes: n,
            num_gpus: g.map(String::from),
            ..Default::default()
        };
        let m = ModelFlags::default();
        // -g 2 in a single process: say how to start two.
        let e = resolve_for(&m, &t(None, Some("2")), None, Some(1)).unwrap_err();
        assert!(e.contains("amt launch --nproc 2"), "{e}");
        // -g 2 as one of 2 ranks: fine; the plan's global batch is 2 x 24.
        let p = resolve_for(&m, &t(None, Some("2")), None, Some(2)).unwrap();
        assert_eq!((p.world_size, p.global_batch), (2, 48));
        // Epoch steps are divided by the world size, as Lightning does.
        assert_eq!(p.max_steps, 1000 * (90_000 / 48));
        // -n 2 -g 2 as one of 2: wrong.
        let e = resolve_for(&m, &t(Some(2), Some("2")), None, Some(2)).unwrap_err();
        assert!(
            e.contains("asks for 4 ranks") && e.contains("WORLD_SIZE=2"),
            "{e}"
        );
        // No counts: any world.
        assert!(resolve_for(&m, &t(None, None), None, Some(3)).is_ok());
    }

    #[test]
    fn the_demo_model_follows_its_mel_bins() {
        let m = ModelFlags {
            model: Some("demo".into()),
            ..Default::default()
        };
        let p = resolve(&m, &TrainFlags::default(), None).unwrap();
        assert_eq!(
            (p.model.d_feat, p.model.encoder.d_model, p.n_mels),
            (128, 128, 128)
        );
        let m = ModelFlags {
            model: Some("demo".into()),
            n_mels: Some(256),
            ..Default::default()
        };
        assert!(
            resolve(&m, &TrainFlags::default(), None)
                .unwrap_err()
                .contains("-nmel 128")
        );
    }
}
