//! The YourMT3+ model family: the released configurations' exact trainable parameter counts
//! (spec section 7.4), the shapes of the Perceiver-TF and the multi-channel decoder, and
//! tiny versions of each that train.

mod common;

use amt_model::config::{
    Activation, DecoderType, EncoderType, FfType, LatentPe, ModelConfig, PerceiverConfig,
};
use amt_model::ymt3::{Ymt3, trainable_params};
use tch::{Device, Kind, Tensor, nn};

/// YPTF+Single: `-enc perceiver-tf -ac spec -hop 300 -atc 1`.
fn yptf_single() -> ModelConfig {
    ModelConfig {
        encoder_type: EncoderType::PerceiverTf,
        d_feat: 1024,
        feat_length: 110,
        ..ModelConfig::default()
    }
    .with_positions()
}

/// YPTF+Multi: `-tk mc13_full_plus_256 -dec multi-t5 -nl 26` on top.
fn yptf_multi() -> ModelConfig {
    let mut c = yptf_single();
    c.decoder_type = DecoderType::MultiT5;
    c.num_channels = 13;
    c.event_length = 256;
    c.perceiver.num_latents = 26;
    c.with_positions()
}

/// YPTF.MoE+Multi: `-sqr 1 -ff moe -wf 4 -nmoe 8 -kmoe 2 -act silu -epe rope -rp 1` on top.
fn yptf_moe_multi() -> ModelConfig {
    let mut c = yptf_multi();
    c.perceiver = PerceiverConfig {
        num_latents: 26,
        sca_use_query_residual: true,
        ff_type: FfType::Moe,
        ff_widening_factor: 4,
        moe_num_experts: 8,
        moe_topk: 2,
        hidden_act: Activation::Silu,
        position_encoding: LatentPe::Rope,
        rope_partial_pe: true,
        ..PerceiverConfig::default()
    };
    c
}

fn count(cfg: &ModelConfig) -> (i64, nn::VarStore) {
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Ymt3::new(&vs.root(), cfg).unwrap();
    (trainable_params(&vs), vs)
}

fn prefix_count(vs: &nn::VarStore, prefix: &str) -> i64 {
    vs.variables()
        .iter()
        .filter(|(n, t)| n.starts_with(prefix) && t.requires_grad())
        .map(|(_, t)| t.numel() as i64)
        .sum()
}

#[test]
fn released_configurations_have_their_exact_parameter_counts() {
    let (n, vs) = count(&yptf_single());
    assert_eq!(prefix_count(&vs, "pre_encoder."), 740_224);
    assert_eq!(prefix_count(&vs, "encoder."), 1_766_400);
    assert_eq!(prefix_count(&vs, "pre_decoder."), 1_572_864);
    assert_eq!(prefix_count(&vs, "decoder."), 25_178_624);
    assert_eq!(n, 29_868_416);

    let (n, vs) = count(&yptf_multi());
    assert_eq!(prefix_count(&vs, "encoder."), 1_797_376);
    assert_eq!(prefix_count(&vs, "pre_decoder."), 131_072);
    assert_eq!(n, 28_457_600);

    let (n, vs) = count(&yptf_moe_multi());
    assert_eq!(prefix_count(&vs, "encoder."), 19_888_384);
    assert_eq!(n, 46_548_608);

    // The Conformer (not released): YourMT3's code gives its encoder 23,278,592.
    let conformer = ModelConfig {
        encoder_type: EncoderType::Conformer,
        ..ModelConfig::default()
    }
    .with_positions();
    let (n, vs) = count(&conformer);
    assert_eq!(prefix_count(&vs, "encoder."), 23_278_592);
    assert_eq!(n, 23_278_592 + 25_178_624 + 2 * 305_152);
}

/// A tiny Perceiver-TF: 64 bins (8 after the pre-encoder), 4 conv channels, latents 32 wide,
/// one block of each layer; a 2-layer T5 decoder 32 wide.
fn tiny_ptf(multi: bool) -> ModelConfig {
    let mut c = ModelConfig::demo();
    c.encoder_type = EncoderType::PerceiverTf;
    c.d_feat = 64;
    c.feat_length = 12;
    c.event_length = 10;
    c.decoder.d_model = 32;
    c.decoder.d_kv = 8;
    c.decoder.d_ff = 64;
    c.perceiver = PerceiverConfig {
        conv_out_channels: 4,
        num_latents: if multi { 6 } else { 4 },
        d_latent: 32,
        num_heads: 4,
        num_blocks: 1,
        num_local: 1,
        num_temporal: 1,
        dropout_rate: 0.0,
        ..PerceiverConfig::default()
    };
    if multi {
        c.decoder_type = DecoderType::MultiT5;
        c.num_channels = 3;
    }
    c.with_positions()
}

#[test]
fn shapes_of_the_perceiver_and_both_pre_decoders() {
    for multi in [false, true] {
        let cfg = tiny_ptf(multi);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Ymt3::new(&vs.root(), &cfg).unwrap();
        let spec = Tensor::rand([2, 12, 64], (Kind::Float, Device::Cpu));
        let k = cfg.perceiver.num_latents;
        assert_eq!(m.encode(&spec, false).size(), vec![2, 12, k, 32]);
        let labels = if multi {
            Tensor::randint_low(2, 500, [2, 3, 10], (Kind::Int64, Device::Cpu))
        } else {
            Tensor::randint_low(2, 500, [2, 10], (Kind::Int64, Device::Cpu))
        };
        let f = m.forward(&spec, &labels, false);
        let mut want = labels.size();
        want.push(596);
        assert_eq!(f.logits.size(), want);
        assert_eq!(
            m.generate(&spec, 5).size()[..labels.dim() - 1],
            labels.size()[..labels.dim() - 1]
        );
        let vars = vs.variables();
        // Pre-encoder: the first block widens 1 -> 4 channels with a 1x1 shortcut.
        assert_eq!(
            vars["pre_encoder.0.blocks.0.conv1.weight"].size(),
            vec![4, 1, 3, 3]
        );
        assert_eq!(
            vars["pre_encoder.0.blocks.0.shortcut.weight"].size(),
            vec![4, 1, 1, 1]
        );
        assert!(!vars.contains_key("pre_encoder.0.blocks.1.shortcut.weight"));
        // SCA keys read a channel's 64 / 8 = 8 frequency values (attention to channel).
        assert_eq!(
            vars["encoder.blocks.0.spectral_cross_attention.self.key.weight"].size(),
            vec![32, 8]
        );
        assert_eq!(vars["encoder.pos_emb._pos_emb"].size(), vec![22, k, 32]);
        let proj = if multi {
            &vars["pre_decoder.0.linear.weight"]
        } else {
            &vars["pre_decoder.0.projection_layer.weight"]
        };
        assert_eq!(
            proj.size(),
            if multi {
                vec![32, 2 * 32]
            } else {
                vec![32, k * 32]
            }
        );
    }
}

/// Every position encoding builds, runs, and adds exactly its trainable tensors.
#[test]
fn every_latent_position_encoding() {
    let base = {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut c = tiny_ptf(false);
        c.perceiver.position_encoding = LatentPe::None;
        let _m = Ymt3::new(&vs.root(), &c).unwrap();
        trainable_params(&vs)
    };
    let (rows, k, d) = (22, 4, 32);
    for (pe, extra) in [
        (LatentPe::Tkd, rows * k * d),
        (LatentPe::Td, rows * d),
        (LatentPe::Tk, rows * k),
        (LatentPe::Kdt, k * d + rows * d),
        (LatentPe::Alibi, 0),
        // Trainable slopes in each attention: SCA, local, temporal.
        (LatentPe::Alibit, 3 * 4),
        (LatentPe::Rope, 0),
        (LatentPe::None, 0),
    ] {
        let vs = nn::VarStore::new(Device::Cpu);
        let mut c = tiny_ptf(false);
        c.perceiver.position_encoding = pe;
        let m = Ymt3::new(&vs.root(), &c).unwrap();
        assert_eq!(trainable_params(&vs) - base, extra, "{pe:?}");
        let spec = Tensor::rand([1, 12, 64], (Kind::Float, Device::Cpu));
        let out = m.encode(&spec, false);
        assert!(out.isfinite().all().int64_value(&[]) == 1, "{pe:?}");
    }
}

/// Frames are told apart only through the position encoding: on a spectrogram constant over
/// time, frames far enough from the edges for the convolutions not to see them get the same
/// output with `none`, and different outputs with each trainable table. (RoPE and ALiBi only
/// reweight attention over values that are all alike here; their defining properties are
/// tested in `position.rs`.)
#[test]
fn position_encodings_tell_frames_apart() {
    let spec = Tensor::rand([1, 1, 64], (Kind::Float, Device::Cpu)).expand([1, 24, 64], false);
    for (pe, quirks, same) in [
        (LatentPe::None, false, true),
        (LatentPe::Tkd, false, false),
        (LatentPe::Td, false, false),
        // (`tk` adds one value per latent over its whole width: the SCA's LayerNorm removes
        // it unless the query residual carries it on.)
        (LatentPe::Kdt, false, false),
    ] {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(Device::Cpu);
        let mut c = tiny_ptf(false);
        c.feat_length = 24;
        c.perceiver.position_encoding = pe;
        c.perceiver.pe_quirks = quirks;
        c.perceiver.sca_use_query_residual = false;
        let m = Ymt3::new(&vs.root(), &c.with_positions()).unwrap();
        let out = m.encode(&spec, false);
        let diff = (out.get(0).get(9) - out.get(0).get(14))
            .abs()
            .max()
            .double_value(&[]);
        assert_eq!(diff < 1e-5, same, "{pe:?}: {diff}");
    }
}

#[test]
fn multi_channel_cached_decoding_equals_uncached() {
    tch::manual_seed(4);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Ymt3::new(&vs.root(), &tiny_ptf(true)).unwrap();
    let spec = Tensor::rand([2, 12, 64], (Kind::Float, Device::Cpu));
    let a = m.generate(&spec, 7);
    let b = m.generate_uncached(&spec, 7);
    assert_eq!(a.size(), vec![2, 3, 7]);
    assert!(a.equal(&b));
}

/// Tiny YPTF+Single, YPTF+Multi and YPTF.MoE+Multi (RoPE, gated SiLU experts) learn one batch:
/// the loss falls and greedy decoding gives back every channel's targets, each channel
/// stopping at its own EOS.
#[test]
fn tiny_perceiver_models_overfit_one_batch() {
    let moe = {
        let mut c = tiny_ptf(true);
        c.perceiver.ff_type = FfType::Moe;
        c.perceiver.moe_num_experts = 4;
        c.perceiver.ff_widening_factor = 2;
        c.perceiver.hidden_act = Activation::Silu;
        c.perceiver.position_encoding = LatentPe::Rope;
        c.perceiver.rope_partial_pe = true;
        c.perceiver.sca_use_query_residual = true;
        c
    };
    let gmlp = {
        let mut c = tiny_ptf(false);
        c.perceiver.ff_type = FfType::Gmlp;
        c.perceiver.position_encoding = LatentPe::Alibit;
        c
    };
    for (name, cfg) in [
        ("single", tiny_ptf(false)),
        ("multi", tiny_ptf(true)),
        ("moe", moe),
        ("gmlp", gmlp),
    ] {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let m = Ymt3::new(&vs.root(), &cfg).unwrap();
        let spec = Tensor::rand([2, 12, 64], (Kind::Float, Device::Cpu));
        // Channels of different lengths, each ending in EOS (1), PAD (0) after.
        let rows: Vec<i64> = vec![
            340, 269, 339, 53, 1, 0, 0, 0, 0, 0, //
            340, 300, 1, 0, 0, 0, 0, 0, 0, 0, //
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
            338, 273, 504, 1, 0, 0, 0, 0, 0, 0, //
            340, 280, 339, 80, 338, 280, 1, 0, 0, 0, //
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let labels = if cfg.num_channels == 3 {
            Tensor::from_slice(&rows).view([2, 3, 10])
        } else {
            Tensor::from_slice(&rows[..20]).view([2, 10])
        };
        let (first, last) = common::overfit(&m, &vs, &spec, &labels, 150, 1e-2);
        assert!(last < 0.05, "{name}: loss {first} -> {last}");
        let out = m.generate(&spec, 10);
        assert!(out.equal(&labels), "{name}: {out:?}");
    }
}

fn golden(name: &str) -> (std::path::PathBuf, serde_json::Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let cfg = std::fs::read(dir.join(format!("{name}_config.json"))).unwrap();
    (dir, serde_json::from_slice(&cfg).unwrap())
}

fn npy_f32(path: &std::path::Path) -> Tensor {
    let (shape, v) = amt_model::npy::read::<f32>(path).unwrap();
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(&v).view(dims.as_slice())
}

fn npy_i64(path: &std::path::Path) -> Tensor {
    let (shape, v) = amt_model::npy::read::<i64>(path).unwrap();
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    Tensor::from_slice(&v).view(dims.as_slice())
}

/// Against `tests/golden/make_family.py`: YourMT3's own PyTorch code, with random weights
/// saved under its state-dict names and loaded here by those names, gives the same encoder
/// output, teacher-forced logits and greedy tokens, for a YPTF+Single and for a
/// YPTF.MoE+Multi (RoPE with YourMT3's quirks, 13 channels); and a Conformer.
#[test]
fn models_equal_yourmt3s_own_code() {
    for (name, multi) in [("ptf_single", false), ("ptf_moe_multi", true)] {
        let (dir, g) = golden(name);
        let d = &g["decoder"];
        let int = |v: &serde_json::Value| v.as_i64().unwrap();
        let mut c = ModelConfig {
            encoder_type: EncoderType::PerceiverTf,
            d_feat: 1024,
            feat_length: 110,
            event_length: int(&g["max_total_token_length"]),
            logit_scale: amt_model::config::LogitScale::Yourmt3,
            ..ModelConfig::default()
        };
        c.decoder.d_model = int(&d["d_model"]);
        c.decoder.num_heads = int(&d["num_heads"]);
        c.decoder.d_kv = int(&d["d_kv"]);
        c.decoder.d_ff = int(&d["d_ff"]);
        c.decoder.num_layers = int(&d["num_layers"]);
        c.perceiver = PerceiverConfig {
            conv_out_channels: int(&g["conv_out_channels"]),
            num_latents: int(&g["latents"]),
            num_blocks: 1,
            num_local: 1,
            num_temporal: 1,
            ..PerceiverConfig::default()
        };
        if multi {
            c.decoder_type = DecoderType::MultiT5;
            c.num_channels = 13;
            c.perceiver = PerceiverConfig {
                sca_use_query_residual: true,
                ff_type: FfType::Moe,
                ff_widening_factor: 1,
                moe_num_experts: 4,
                moe_topk: 2,
                hidden_act: Activation::Silu,
                position_encoding: LatentPe::Rope,
                rope_partial_pe: true,
                pe_quirks: true,
                ..c.perceiver
            };
        }
        let c = c.with_positions();
        assert_eq!(c.decoder.num_max_positions, int(&d["num_max_positions"]));
        golden_check(name, &dir, &g, c);
    }
    let (dir, g) = golden("conformer");
    let d = &g["decoder"];
    let int = |v: &serde_json::Value| v.as_i64().unwrap();
    let mut c = ModelConfig {
        encoder_type: EncoderType::Conformer,
        d_feat: 64,
        feat_length: 256,
        event_length: 1024,
        logit_scale: amt_model::config::LogitScale::Yourmt3,
        ..ModelConfig::default()
    };
    c.conformer.d_model = 64;
    c.conformer.intermediate_size = 96;
    c.conformer.num_heads = 2;
    c.conformer.num_layers = 2;
    c.conformer.conv_depthwise_kernel_size = 7;
    c.decoder.d_model = int(&d["d_model"]);
    c.decoder.num_heads = int(&d["num_heads"]);
    c.decoder.d_kv = int(&d["d_kv"]);
    c.decoder.d_ff = int(&d["d_ff"]);
    c.decoder.num_layers = int(&d["num_layers"]);
    golden_check("conformer", &dir, &g, c.with_positions());
}

fn golden_check(name: &str, dir: &std::path::Path, g: &serde_json::Value, c: ModelConfig) {
    {
        let file = |s: &str| dir.join(format!("{name}_{s}"));
        let mut vs = nn::VarStore::new(Device::Cpu);
        let m = Ymt3::new(&vs.root(), &c).unwrap();
        vs.load(file("weights.safetensors")).unwrap();
        let spec = npy_f32(&file("spec.npy"));
        let labels = npy_i64(&file("labels.npy"));
        let err = |a: &Tensor, b: &Tensor| {
            assert_eq!(a.size(), b.size(), "{name}");
            (a - b).abs().max().double_value(&[])
        };
        tch::no_grad(|| {
            let e = err(&m.encode(&spec, false), &npy_f32(&file("encoder.npy")));
            assert!(e < 1e-4, "{name} encoder: {e}");
            let f = m.forward(&spec, &labels, false);
            let e = err(&f.logits, &npy_f32(&file("logits.npy")));
            assert!(e < 1e-4, "{name} logits: {e}");
            let loss = g["loss"].as_f64().unwrap();
            assert!(
                (f.loss.double_value(&[]) - loss).abs() < 1e-4,
                "{name} loss"
            );
            let want = npy_i64(&file("greedy.npy"));
            let n = *want.size().last().unwrap();
            let got = m.generate(&spec, 6);
            let got = got.narrow(got.dim() as i64 - 1, 0, n);
            assert!(got.equal(&want), "{name}: {got:?} vs {want:?}");
        });
    }
}
