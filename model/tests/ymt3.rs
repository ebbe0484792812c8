//! YMT3+ in tch: the parameter count of the default configuration (YourMT3's), shapes, the
//! KV-cached greedy decoding against the uncached one, and a tiny configuration that overfits
//! one batch.

mod common;

use amt_model::config::ModelConfig;
use amt_model::ymt3::{Ymt3, trainable_params};
use tch::{Device, Kind, Tensor, nn};

#[test]
fn the_default_configuration_has_yourmt3s_44_672_000_parameters() {
    let vs = nn::VarStore::new(Device::Cpu);
    let _m = Ymt3::new(&vs.root(), &ModelConfig::default()).unwrap();
    assert_eq!(trainable_params(&vs), 44_672_000);
    // Names as YourMT3's state dict has them.
    let vars = vs.variables();
    for name in [
        "encoder.encoder.block.0.layer.0.SelfAttention.q.weight",
        "encoder.encoder.block.7.layer.1.DenseReluDense.wi_1.weight",
        "encoder.encoder.final_layer_norm.weight",
        "decoder.decoder.block.3.layer.1.EncDecAttention.o.weight",
        "decoder.decoder.block.7.layer.2.layer_norm.weight",
        "decoder.decoder.additive_pe.weight",
        "embed_tokens.weight",
        "lm_head.lm_head.weight",
    ] {
        assert!(vars.contains_key(name), "{name}");
    }
    assert_eq!(
        vars["encoder.encoder.block.0.layer.0.SelfAttention.q.weight"].size(),
        vec![384, 512]
    );
    assert_eq!(
        vars["decoder.decoder.additive_pe.weight"].size(),
        vec![1034, 512]
    );
}

fn tiny() -> ModelConfig {
    let mut c = ModelConfig::demo();
    c.encoder.num_layers = 1;
    c.decoder.num_layers = 1;
    c.d_feat = 128;
    c.feat_length = 32;
    c.event_length = 16;
    c.with_positions()
}

#[test]
fn shapes_and_cached_decoding_equal_uncached() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Ymt3::new(&vs.root(), &tiny()).unwrap();
    let spec = Tensor::rand([3, 32, 128], (Kind::Float, Device::Cpu));
    let labels = Tensor::randint_low(3, 500, [3, 16], (Kind::Int64, Device::Cpu));
    let f = m.forward(&spec, &labels, false);
    assert_eq!(f.logits.size(), vec![3, 16, 596]);
    assert!(f.loss.double_value(&[]).is_finite());
    let a = m.generate(&spec, 12);
    let b = m.generate_uncached(&spec, 12);
    assert_eq!(a.size(), vec![3, 12]);
    assert!(a.equal(&b), "{a:?} vs {b:?}");
}

#[test]
fn a_tiny_model_overfits_one_batch() {
    tch::manual_seed(2);
    let vs = nn::VarStore::new(Device::Cpu);
    let m = Ymt3::new(&vs.root(), &tiny()).unwrap();
    let spec = Tensor::rand([2, 32, 128], (Kind::Float, Device::Cpu));
    // Two short targets ending in EOS, padded.
    let labels = Tensor::from_slice(&[
        340i64, 269, 339, 53, 338, 273, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 340, 300, 339, 80, 338, 280,
        504, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ])
    .view([2, 16]);
    let (first, last) = common::overfit(&m, &vs, &spec, &labels, 300, 5e-3);
    assert!(last < 0.05, "loss {first} -> {last}");
    // And greedy decoding reproduces the targets.
    let out = m.generate(&spec, 16);
    assert!(out.equal(&labels), "{out:?}");
}

/// Against `tests/golden/make_ymt3.py`: an independent torch implementation of the same
/// network with fixed weights (loaded here by YourMT3's names) gives the same encoder output,
/// teacher-forced logits and greedy tokens.
#[test]
fn forward_equals_an_independent_implementation() {
    let g = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut cfg = ModelConfig::demo();
    cfg.feat_length = 32;
    cfg.event_length = 16;
    let cfg = cfg.with_positions();
    let mut vs = nn::VarStore::new(Device::Cpu);
    let m = Ymt3::new(&vs.root(), &cfg).unwrap();
    vs.load(g.join("ymt3_weights.safetensors")).unwrap();
    let load_f = |n: &str| {
        let (shape, v) = amt_model::npy::read::<f32>(&g.join(n)).unwrap();
        Tensor::from_slice(&v).view(
            shape
                .iter()
                .map(|&d| d as i64)
                .collect::<Vec<_>>()
                .as_slice(),
        )
    };
    let load_i = |n: &str| {
        let (shape, v) = amt_model::npy::read::<i64>(&g.join(n)).unwrap();
        Tensor::from_slice(&v).view(
            shape
                .iter()
                .map(|&d| d as i64)
                .collect::<Vec<_>>()
                .as_slice(),
        )
    };
    let spec = load_f("ymt3_spec.npy");
    let labels = load_i("ymt3_labels.npy");
    let max_err = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
    let enc = tch::no_grad(|| m.encode(&spec, false));
    assert!(max_err(&enc, &load_f("ymt3_encoder.npy")) < 1e-4);
    let logits = tch::no_grad(|| m.forward(&spec, &labels, false).logits);
    assert!(max_err(&logits, &load_f("ymt3_logits.npy")) < 1e-4);
    let greedy = m.generate(&spec, 12);
    assert!(greedy.equal(&load_i("ymt3_greedy.npy")), "{greedy:?}");
}
