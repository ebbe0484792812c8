//! `amt convert CHECKPOINT.ckpt -o OUT.safetensors`: a YourMT3 (PyTorch Lightning) checkpoint
//! read as data (nothing in it runs), its model state dict kept under YourMT3's names (the
//! optimiser state and the pitch shifter's kernels dropped), the configuration inferred from
//! the weights and the stored hyper-parameters, checked by loading it into the model amt
//! builds from that configuration, and written as OUT.safetensors plus OUT.json (the flags
//! and the model card `amt transcribe --checkpoint OUT.safetensors` reads).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use amt_model::config::{LogitScale, ModelConfig};
use amt_model::pickle::Value;
use amt_model::torch_ckpt::TorchCheckpoint;
use amt_model::ymt3::Ymt3;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tch::{Device, Tensor, nn};

use crate::cli::{ConvertArgs, with_hint};
use crate::train::flags::{ModelFlags, TrainFlags};
use crate::train::resolve::{ModelCard, resolve};

/// OUT.json: how the weights were made and what model they are.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Converted {
    pub source: String,
    /// YourMT3's flags for this model (as its README gives them).
    pub flags: Vec<String>,
    /// Options the weights do not show and the checkpoint did not store: the value assumed.
    pub assumed: Vec<String>,
    pub card: ModelCard,
    pub tensors: usize,
    pub dropped: BTreeMap<String, usize>,
}

/// The `OUT.json` beside a converted `OUT.safetensors`.
pub fn sidecar(weights: &Path) -> PathBuf {
    weights.with_extension("json")
}

pub fn convert(args: &ConvertArgs) -> anyhow::Result<ExitCode> {
    let ck = TorchCheckpoint::open(&args.checkpoint, &args.allow_global).map_err(|e| {
        with_hint(
            anyhow::anyhow!("{e}"),
            "amt convert reads PyTorch Lightning checkpoints of YourMT3 (`torch.save` zip files)",
        )
    })?;
    let mut ck = ck;
    let entries = ck.state_dict().map_err(anyhow::Error::msg)?;
    let mut dropped: BTreeMap<String, usize> = BTreeMap::new();
    let mut kept = Vec::new();
    for (name, t) in entries {
        if name.contains("pitchshift") {
            *dropped.entry("pitch shifter buffers".into()).or_default() += 1;
        } else {
            kept.push((name, t));
        }
    }
    if let Some(Value::List(o)) = ck.root.get("optimizer_states") {
        dropped.insert("optimizer states".into(), o.len());
    }
    let shapes: BTreeMap<String, Vec<i64>> = kept
        .iter()
        .map(|(n, t)| (n.clone(), t.shape.clone()))
        .collect();
    let hparams = ck.root.get("hyper_parameters");
    let inferred = infer(&shapes, hparams).map_err(|e| {
        with_hint(
            anyhow::anyhow!("`{}`: {e}", args.checkpoint.display()),
            "amt converts YourMT3's T5 and Perceiver-TF models",
        )
    })?;
    // Read the tensors, then prove they are the model the card describes.
    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(kept.len());
    for (name, t) in &kept {
        let v = ck
            .tensor(t)
            .map_err(|e| anyhow::anyhow!("`{}`: {name}: {e}", args.checkpoint.display()))?;
        tensors.push((name.clone(), v));
    }
    let mut vs = nn::VarStore::new(Device::Cpu);
    let _m = Ymt3::new(&vs.root(), &inferred.card.model).map_err(anyhow::Error::msg)?;
    let by_name: BTreeMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut missing = Vec::new();
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            match by_name.get(name.as_str()) {
                Some(src) if src.size() == var.size() => {
                    var.copy_(src);
                }
                Some(src) => missing.push(format!(
                    "{name} (shape {:?}, the model wants {:?})",
                    src.size(),
                    var.size()
                )),
                None => missing.push(name),
            }
        }
    });
    if !missing.is_empty() {
        missing.sort();
        anyhow::bail!(
            "`{}`: the inferred model ({}) has tensors the checkpoint lacks or shapes it differently: {}",
            args.checkpoint.display(),
            inferred.flags.join(" "),
            missing
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    vs.freeze();
    let out = &args.out;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs_err::create_dir_all(dir)?;
    }
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = amt_cache::atomic::unique_temp_name(dir, "convert");
    let named: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let written = Tensor::write_safetensors(&named, &tmp)
        .map_err(anyhow::Error::from)
        .and_then(|()| {
            fs_err::File::open(&tmp)?.sync_all()?;
            fs_err::rename(&tmp, out)?;
            Ok(())
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("writing `{}`", out.display())));
    }
    let record = Converted {
        source: args.checkpoint.display().to_string(),
        flags: inferred.flags.clone(),
        assumed: inferred.assumed.clone(),
        card: inferred.card.clone(),
        tensors: tensors.len(),
        dropped,
    };
    amt_cache::atomic::write_file(&sidecar(out), &serde_json::to_vec_pretty(&record)?)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "weights": out,
                "config": sidecar(out),
                "converted": record,
            }))?
        );
    } else {
        println!(
            "{} tensors -> {} (+ {})",
            record.tensors,
            out.display(),
            sidecar(out).display()
        );
        println!("model: {}", record.flags.join(" "));
        for (what, n) in &record.dropped {
            println!("dropped: {n} {what}");
        }
        for a in &record.assumed {
            println!("assumed (not in the checkpoint): {a}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

struct Inferred {
    flags: Vec<String>,
    assumed: Vec<String>,
    card: ModelCard,
}

fn count(shapes: &BTreeMap<String, Vec<i64>>, prefix: &str) -> i64 {
    let mut n = 0;
    while shapes
        .keys()
        .any(|k| k.starts_with(&format!("{prefix}.{n}.")))
    {
        n += 1;
    }
    n
}

fn dim(shapes: &BTreeMap<String, Vec<i64>>, name: &str, i: usize) -> Result<i64, String> {
    shapes
        .get(name)
        .and_then(|s| s.get(i).copied())
        .ok_or_else(|| format!("the weights lack `{name}`"))
}

/// A stored hyper-parameter: `model_cfg.encoder.perceiver-tf.<key>`, or `audio_cfg.<key>`.
fn hparam<'a>(h: Option<&'a Value>, path: &[&str]) -> Option<&'a Value> {
    let mut v = h?;
    for p in path {
        v = v.get(p)?;
    }
    Some(v)
}

fn value_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Str(s) => s.clone(),
        _ => return None,
    })
}

/// The configuration of a state dict: the architecture from the tensor names and shapes, the
/// rest (query residual, top-k, activation, RoPE keys) from the stored hyper-parameters, or
/// YourMT3's defaults, said in `assumed`.
fn infer(shapes: &BTreeMap<String, Vec<i64>>, h: Option<&Value>) -> Result<Inferred, String> {
    let mut flags: Vec<String> = Vec::new();
    let mut assumed = Vec::new();
    let push = |f: &mut Vec<String>, k: &str, v: String| {
        f.push(k.to_string());
        f.push(v);
    };
    let perceiver = shapes.contains_key("encoder.latent_array.latents");
    let conformer = shapes.contains_key("encoder.embed_positions.inv_freq");
    if !perceiver && !conformer && !shapes.contains_key("encoder.encoder.final_layer_norm.weight") {
        return Err("neither a T5, a Perceiver-TF nor a Conformer encoder in the weights".into());
    }
    let ptf = |key: &str| hparam(h, &["model_cfg", "encoder", "perceiver-tf", key]);
    let mut quirks = false;
    if perceiver {
        let k = dim(shapes, "encoder.latent_array.latents", 0)?;
        let d = dim(shapes, "encoder.latent_array.latents", 1)?;
        let multi = shapes.contains_key("pre_decoder.0.linear.weight");
        if multi {
            let per = dim(shapes, "pre_decoder.0.linear.weight", 1)? / d;
            let channels = k / per.max(1);
            if channels != 13 {
                return Err(format!(
                    "a multi-channel decoder of {channels} channels (YourMT3's task has 13)"
                ));
            }
            push(&mut flags, "-tk", "mc13_full_plus_256".into());
            push(&mut flags, "-dec", "multi-t5".into());
        }
        push(&mut flags, "-nl", k.to_string());
        push(&mut flags, "-enc", "perceiver-tf".into());
        if d != 128 {
            push(&mut flags, "-dl", d.to_string());
        }
        let cout = dim(shapes, "pre_encoder.0.blocks.0.conv1.weight", 0)?;
        if cout != 128 {
            push(&mut flags, "-cout", cout.to_string());
        }
        let blocks = count(shapes, "encoder.blocks");
        let local = count(shapes, "encoder.blocks.0.local_transformer");
        let temporal = count(shapes, "encoder.blocks.0.temporal_transformer");
        for (flag, v, default) in [
            ("-npb", blocks, 3),
            ("-npl", local, 2),
            ("-npt", temporal, 2),
        ] {
            if v != default {
                push(&mut flags, flag, v.to_string());
            }
        }
        let layer = if local > 0 {
            "encoder.blocks.0.local_transformer.0.mlp"
        } else {
            "encoder.blocks.0.temporal_transformer.0.mlp"
        };
        let sqr = ptf("sca_use_query_residual").and_then(value_text);
        match sqr {
            Some(v) if v == "1" || v == "True" || v == "true" => {
                push(&mut flags, "-sqr", "1".into())
            }
            Some(_) => {}
            None => assumed.push("-sqr 0 (the SCA query residual has no weights)".into()),
        }
        if shapes.contains_key(&format!("{layer}.gate.weight")) {
            let experts = count(shapes, &format!("{layer}.experts"));
            let wf = dim(shapes, &format!("{layer}.experts.0.w1.weight"), 0)? / d;
            push(&mut flags, "-ff", "moe".into());
            push(&mut flags, "-wf", wf.to_string());
            push(&mut flags, "-nmoe", experts.to_string());
            match ptf("moe_topk").and_then(value_text) {
                Some(v) => push(&mut flags, "-kmoe", v),
                None => {
                    push(&mut flags, "-kmoe", "2".into());
                    assumed.push("-kmoe 2 (top-k has no weights)".into());
                }
            }
        } else if shapes.contains_key(&format!("{layer}.w1.weight")) {
            let wf = dim(shapes, &format!("{layer}.w1.weight"), 0)? / d;
            push(&mut flags, "-ff", "gmlp".into());
            push(&mut flags, "-wf", wf.to_string());
        } else if local + temporal > 0 {
            let wf = dim(shapes, &format!("{layer}.dense1.weight"), 0)? / d;
            if wf != 1 {
                push(&mut flags, "-wf", wf.to_string());
            }
        }
        match ptf("hidden_act").and_then(value_text) {
            Some(v) if v != "gelu" => push(&mut flags, "-act", v),
            Some(_) => {}
            None => assumed.push("-act gelu (the activation has no weights)".into()),
        }
        let pe = if shapes.contains_key("encoder.pos_emb._pos_emb_temporal") {
            Some("kdt")
        } else if let Some(s) = shapes.get("encoder.pos_emb._pos_emb") {
            match s.len() {
                3 => None, // tkd, the default
                _ if s[1] == d && d != k => Some("td"),
                _ if s[1] == k && d != k => Some("tk"),
                _ => ptf("position_encoding_type")
                    .and_then(|v| v.as_str())
                    .map(|s| if s == "td" { "td" } else { "tk" }),
            }
        } else if let Some(s) = shapes.get("encoder.rotary_emb_sca.freqs") {
            // YourMT3's RoPE width is the head count (8), half of it with -rp.
            quirks = true;
            if s[0] * 2 < 8 {
                push(&mut flags, "-rp", "1".into());
            }
            if ptf("rope_apply_to_keys")
                .and_then(value_text)
                .is_some_and(|v| v == "1" || v == "True" || v == "true")
            {
                push(&mut flags, "-rk", "1".into());
            }
            Some("rope")
        } else if shapes.keys().any(|k| k.ends_with("alibi_bias.slopes")) {
            quirks = true;
            Some("alibit")
        } else {
            match ptf("position_encoding_type").and_then(|v| v.as_str()) {
                Some("alibi") => Some("alibi"),
                Some(_) => Some("none"),
                None => {
                    assumed.push("-epe none (no position tensors; alibi has none either)".into());
                    Some("none")
                }
            }
        };
        if let Some(pe) = pe {
            push(&mut flags, "-epe", pe.into());
        }
        if quirks {
            push(&mut flags, "--pe-compat", "1".into());
        }
        let codec = hparam(h, &["audio_cfg", "codec"])
            .and_then(value_text)
            .unwrap_or_else(|| {
                assumed.push("-ac spec -hop 300 (the Perceiver-TF's front-end)".into());
                "spec".into()
            });
        push(&mut flags, "-ac", codec);
        let hop = hparam(h, &["audio_cfg", "hop_length"])
            .and_then(value_text)
            .unwrap_or_else(|| "300".into());
        push(&mut flags, "-hop", hop);
        let atc = ptf("attention_to_channel")
            .and_then(value_text)
            .unwrap_or_else(|| "1".into());
        push(
            &mut flags,
            "-atc",
            if atc == "0" || atc == "False" || atc == "false" {
                "0".into()
            } else {
                "1".into()
            },
        );
    } else {
        if conformer {
            push(&mut flags, "-enc", "conformer".into());
        }
        if let Some(v) = hparam(h, &["audio_cfg", "n_mels"]).and_then(value_text)
            && v != "512"
        {
            push(&mut flags, "-nmel", v);
        }
    }
    // Resolve the flags as `amt train` would, then size the T5 stacks from the weights.
    let words: Vec<String> = std::iter::once("model-info".to_string())
        .chain(flags.iter().cloned())
        .collect();
    let (m, t) = parse_model_flags(&words)?;
    let plan = resolve(&m, &t, None)?;
    let mut model: ModelConfig = plan.model.clone();
    model.logit_scale = LogitScale::Yourmt3;
    let stack = |prefix: &str, t5: &mut amt_model::config::T5Config| -> Result<(), String> {
        let q = dim(
            shapes,
            &format!("{prefix}.block.0.layer.0.SelfAttention.q.weight"),
            0,
        )?;
        t5.d_model = dim(shapes, &format!("{prefix}.final_layer_norm.weight"), 0)?;
        t5.num_layers = count(shapes, &format!("{prefix}.block"));
        t5.d_ff = dim(
            shapes,
            &format!(
                "{prefix}.block.0.layer.{}.DenseReluDense.wi_0.weight",
                if prefix.starts_with("decoder") { 2 } else { 1 }
            ),
            0,
        )?;
        t5.d_kv = 64;
        t5.num_heads = q / 64;
        if let Some(pe) = shapes.get(&format!("{prefix}.additive_pe.weight")) {
            t5.num_max_positions = pe[0];
        }
        Ok(())
    };
    stack("decoder.decoder", &mut model.decoder)?;
    if conformer {
        let c = &mut model.conformer;
        c.d_model = dim(shapes, "encoder.layer_norm.weight", 0)?;
        c.num_layers = count(shapes, "encoder.layers");
        c.intermediate_size = dim(shapes, "encoder.layers.0.ffn1.intermediate_dense.weight", 0)?;
        c.num_heads = c.d_model / (2 * dim(shapes, "encoder.embed_positions.inv_freq", 0)?).max(1);
        c.conv_depthwise_kernel_size = dim(
            shapes,
            "encoder.layers.0.conv_module.depthwise_conv.weight",
            2,
        )?;
        if let Some(a) = hparam(h, &["model_cfg", "encoder", "conformer", "hidden_act"])
            .and_then(value_text)
            .and_then(|a| amt_model::config::Activation::parse(&a))
        {
            c.hidden_act = a;
        }
    } else if !perceiver {
        stack("encoder.encoder", &mut model.encoder)?;
    }
    model.vocab_size = dim(shapes, "embed_tokens.weight", 0)?;
    let card = ModelCard {
        model,
        codec: plan.codec.clone(),
        hop_length: plan.hop_length,
        n_mels: plan.n_mels,
    };
    Ok(Inferred {
        flags,
        assumed,
        card,
    })
}

/// The model flags of `words` (YourMT3's aliases), as `amt model info` parses them.
fn parse_model_flags(words: &[String]) -> Result<(ModelFlags, TrainFlags), String> {
    use clap::{Args, FromArgMatches};
    let args: Vec<std::ffi::OsString> = std::iter::once("amt".into())
        .chain(std::iter::once("model".into()))
        .chain(std::iter::once("info".into()))
        .chain(words.iter().skip(1).map(Into::into))
        .collect();
    let args = crate::train::flags::rewrite(args);
    let cmd = ModelFlags::augment_args(TrainFlags::augment_args(clap::Command::new("info")));
    let matches = cmd
        .try_get_matches_from(args.into_iter().skip(2))
        .map_err(|e| format!("inferred flags do not parse: {e}"))?;
    let m = ModelFlags::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    let t = TrainFlags::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    Ok((m, t))
}
