//! The YourMT3+ model family: the released configurations' exact trainable parameter counts
//! (spec section 7.4), the shapes of the Perceiver-TF and the multi-channel decoder, and
//! tiny versions of each that train.

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
}
