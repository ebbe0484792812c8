//! The YPTF models end to end on a tiny generated dataset: the Perceiver-TF with the
//! multi-T5 decoder (and the MoE feed-forward with RoPE) trains from `amt train` flags on
//! 13-channel targets, validates, and its checkpoint transcribes audio.

mod common;

use std::path::PathBuf;

use common::tiny::{json_of, tiny_dataset, tiny_train};
use common::{Home, wav};

/// A small YPTF.MoE+Multi: the released flags, with the sizes cut down.
const TINY_MOE_MULTI: &[&str] = &[
    "-tk", "mc13_full_plus_256", "-dec", "multi-t5", "-enc", "perceiver-tf", "-ac", "spec",
    "-hop", "300", "-atc", "1", "-sqr", "1", "-ff", "moe", "-wf", "2", "-nmoe", "4", "-kmoe",
    "2", "-act", "silu", "-epe", "rope", "-rp", "1", "-nl", "13", "-dl", "32", "-cout", "4",
    "-npb", "1", "-npl", "1", "-npt", "1", "-el", "16",
];

#[test]
fn a_tiny_yptf_moe_multi_trains_validates_and_transcribes() {
    let home = Home::new();
    tiny_dataset(&home);
    let v = json_of(&tiny_train(&home, "moe", 2, &[&["-vit", "2"], TINY_MOE_MULTI].concat()));
    assert_eq!(v["steps"], 2, "{v}");
    let loss = v["final_loss"].as_f64().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{v}");
    // Validation decoded the 13 channels, scored them and took the teacher-forced loss.
    let m = &v["metrics"];
    assert!(m["validation/loss"].as_f64().unwrap().is_finite(), "{v}");
    assert!(m["validation/macro_onset_f"].is_number(), "{v}");
    let ckpt = PathBuf::from(v["checkpoint"].as_str().unwrap());
    let tone: Vec<f32> = (0..40_000)
        .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.3)
        .collect();
    home.write("in/tone.wav", &wav(&tone, 16_000, 1));
    let out = home.ok(&[
        "transcribe",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "-o",
        home.path().join("out").to_str().unwrap(),
        home.path().join("in/tone.wav").to_str().unwrap(),
    ]);
    assert!(out.contains("tone.wav"), "{out}");
    assert!(home.path().join("out/tone.mid").exists());
}
