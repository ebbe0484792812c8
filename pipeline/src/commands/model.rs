//! `amt model info` (the resolved configuration and parameter count, without training) and
//! `amt model forward` (a state dict's forward pass on a waveform, written as .npy: the tool for
//! checking our forward pass against another implementation's).
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use amt_model::config::{DecoderType, EncoderType, FfType};
use amt_model::frontend::{Codec, FrontEnd};
use amt_model::npy;
use amt_model::ymt3::{Ymt3, trainable_params};
use amt_symbolic::tokenizer::SEGMENT_SAMPLES;
use serde_json::json;
use tch::{Device, Kind, Tensor, nn};

use crate::cli::{ModelCommand, ModelForwardArgs, ModelInfoArgs, with_hint};
use crate::train::flags::TrainFlags;
use crate::train::resolve::resolve;

pub fn model(cmd: &ModelCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelCommand::Info(a) => info(a),
        ModelCommand::Forward(a) => forward(a),
    }
}

fn info(args: &ModelInfoArgs) -> anyhow::Result<ExitCode> {
    let plan = resolve(&args.model, &args.train, None).map_err(anyhow::Error::msg)?;
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Ymt3::new(&vs.root(), &plan.model).map_err(anyhow::Error::msg)?;
    let params = trainable_params(&vs);
    let mut names: Vec<(String, Vec<i64>)> = vs
        .variables()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect();
    names.sort();
    if args.json {
        let out = json!({
            "params": params,
            "model": plan.model,
            "codec": plan.codec,
            "hop_length": plan.hop_length,
            "n_mels": plan.n_mels,
            "task": plan.task,
            "train": {
                "batch_size": plan.batch_size,
                "max_steps": plan.max_steps,
                "lr": plan.lr,
                "optimizer": plan.optimizer,
                "schedule": plan.schedule,
                "warmup_steps": plan.warmup_steps,
                "val_interval": plan.val_interval,
                "bf16": plan.bf16,
                "data": plan.data,
            },
            "tensors": names.iter().map(|(n, s)| json!({"name": n, "shape": s})).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let m = &plan.model;
        let name = match (m.encoder_type, m.decoder_type, m.perceiver.ff_type) {
            (EncoderType::T5, _, _) => "YMT3+ (T5 encoder, T5 decoder)",
            (EncoderType::Conformer, _, _) => "Conformer encoder, T5 decoder",
            (_, DecoderType::T5, _) => "YPTF+Single (Perceiver-TF encoder, T5 decoder)",
            (_, DecoderType::MultiT5, FfType::Moe) => {
                "YPTF.MoE+Multi (Perceiver-TF encoder with MoE, multi-T5 decoder)"
            }
            (_, DecoderType::MultiT5, _) => "YPTF+Multi (Perceiver-TF encoder, multi-T5 decoder)",
        };
        println!("{name}, {params} trainable parameters");
        println!(
            "input: {} x {} {} (hop {}), targets: {} channel(s) x {} tokens of {}",
            m.feat_length,
            m.d_feat,
            plan.codec,
            plan.hop_length,
            m.num_channels,
            m.event_length,
            m.vocab_size
        );
        if m.encoder_type == EncoderType::PerceiverTf {
            let p = &m.perceiver;
            println!(
                "encoder: Res3B pre-encoder ({} channels), Perceiver-TF {} latents x {}, {} blocks x (SCA{} + {} local + {} temporal), {} heads, {:?} FF x{}{}, {:?} activation, {:?} positions{}, dropout {}",
                p.conv_out_channels,
                p.num_latents,
                p.d_latent,
                p.num_blocks,
                if p.sca_use_query_residual {
                    " with query residual"
                } else {
                    ""
                },
                p.num_local,
                p.num_temporal,
                p.num_heads,
                p.ff_type,
                p.ff_widening_factor,
                if p.ff_type == FfType::Moe {
                    format!(" ({} experts, top {})", p.moe_num_experts, p.moe_topk)
                } else {
                    String::new()
                },
                p.hidden_act,
                p.position_encoding,
                if p.pe_quirks {
                    " (YourMT3's RoPE quirk)"
                } else {
                    ""
                },
                p.dropout_rate
            );
        } else if m.encoder_type == EncoderType::Conformer {
            let c = &m.conformer;
            println!(
                "encoder: Conformer, {} layers, d_model {}, {} heads, intermediate {}, depthwise kernel {}, {:?}, rotary positions, dropout {}, layerdrop {}",
                c.num_layers,
                c.d_model,
                c.num_heads,
                c.intermediate_size,
                c.conv_depthwise_kernel_size,
                c.hidden_act,
                c.dropout_rate,
                c.layerdrop
            );
        } else {
            let t = &m.encoder;
            println!(
                "encoder: {} layers, d_model {}, {} heads x {}, d_ff {}, dropout {}",
                t.num_layers, t.d_model, t.num_heads, t.d_kv, t.d_ff, t.dropout_rate
            );
        }
        let t = &m.decoder;
        println!(
            "decoder: {} layers, d_model {}, {} heads x {}, d_ff {}, dropout {}{}",
            t.num_layers,
            t.d_model,
            t.num_heads,
            t.d_kv,
            t.d_ff,
            t.dropout_rate,
            if m.num_channels > 1 {
                format!(", shared by {} channels", m.num_channels)
            } else {
                String::new()
            }
        );
        println!("logit scale: {:?}", m.logit_scale);
    }
    Ok(ExitCode::SUCCESS)
}

fn to_npy_f32(path: &std::path::Path, t: &Tensor) -> anyhow::Result<()> {
    let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
    let v = Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1))?;
    npy::write(path, &shape, &v)?;
    Ok(())
}

fn forward(args: &ModelForwardArgs) -> anyhow::Result<ExitCode> {
    let plan = resolve(&args.model, &TrainFlags::default(), None).map_err(anyhow::Error::msg)?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = Ymt3::new(&vs.root(), &plan.model).map_err(anyhow::Error::msg)?;
    vs.load(&args.weights).map_err(|e| {
        with_hint(
            anyhow::anyhow!("could not load `{}`: {e}", args.weights.display()),
            "give a safetensors state dict with YourMT3's parameter names for this configuration (`amt model info --json` lists them)",
        )
    })?;
    let wave = super::features::read_waveform_npy(&args.waveform_npy)?;
    let (n_seg, padded) = super::features::segments_of(&wave);
    let codec = Codec::parse(&plan.codec).expect("resolved");
    let fe = FrontEnd::with_mels(codec, plan.hop_length, plan.n_mels, Device::Cpu);
    fs_err::create_dir_all(&args.out)?;
    tch::no_grad(|| -> anyhow::Result<()> {
        let x = Tensor::from_slice(&padded).view([n_seg as i64, SEGMENT_SAMPLES as i64]);
        let spec = fe.forward(&x);
        to_npy_f32(&args.out.join("spectrogram.npy"), &spec)?;
        let enc = model.encode(&spec, false);
        to_npy_f32(&args.out.join("encoder_output.npy"), &enc)?;
        let greedy = model.generate(&spec, plan.model.event_length);
        let labels = match &args.tokens {
            Some(p) => {
                let (shape, v) = npy::read::<i64>(p).map_err(anyhow::Error::msg)?;
                let channels = plan.model.num_channels as usize;
                let ok = match shape.as_slice() {
                    [n, _] => *n == n_seg && channels == 1,
                    [n, c, _] => *n == n_seg && *c == channels,
                    _ => false,
                };
                anyhow::ensure!(
                    ok,
                    "`{}` has shape {shape:?}; expected ({n_seg}, length) int64 token ids, or ({n_seg}, {channels}, length) for a model of {channels} channels",
                    p.display()
                );
                let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                Tensor::from_slice(&v).view(dims.as_slice())
            }
            None => greedy.shallow_clone(),
        };
        let f = model.forward(&spec, &labels, false);
        to_npy_f32(&args.out.join("logits.npy"), &f.logits)?;
        let g: Vec<i64> = Vec::<i64>::try_from(greedy.flatten(0, -1))?;
        let dims: Vec<usize> = greedy.size().iter().map(|&d| d as usize).collect();
        npy::write(&args.out.join("greedy_tokens.npy"), &dims, &g)?;
        println!(
            "{n_seg} segment(s): spectrogram.npy, encoder_output.npy, logits.npy, greedy_tokens.npy in {} (loss {:.6})",
            args.out.display(),
            f.loss.double_value(&[])
        );
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
