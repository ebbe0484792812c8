//! The YPTF models end to end on a tiny generated dataset: the Perceiver-TF with the
//! multi-T5 decoder (and the MoE feed-forward with RoPE) trains from `amt train` flags on
//! 13-channel targets, validates, and its checkpoint transcribes audio.

mod common;

use std::path::PathBuf;

use common::tiny::{TINY_MOE_MULTI, json_of, tiny_dataset, tiny_train};
use common::{Home, wav};

#[test]
fn a_tiny_yptf_moe_multi_trains_validates_and_transcribes() {
    let home = Home::new();
    tiny_dataset(&home);
    let v = json_of(&tiny_train(
        &home,
        "moe",
        2,
        &[&["-vit", "2"], TINY_MOE_MULTI].concat(),
    ));
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

/// The Conformer encoder (`-enc conformer`) under the demo's T5 decoder trains a step and
/// validates; `amt model info` gives YourMT3's encoder size at the default configuration.
#[test]
fn a_conformer_trains_from_its_flag() {
    let home = Home::new();
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["model", "info", "--json", "-enc", "conformer"])).unwrap();
    assert_eq!(v["params"], 23_278_592 + 25_178_624 + 2 * 305_152);
    tiny_dataset(&home);
    let v = json_of(&tiny_train(
        &home,
        "conf",
        1,
        &["-enc", "conformer", "-vit", "1"],
    ));
    assert_eq!(v["steps"], 1, "{v}");
    assert!(
        v["metrics"]["validation/loss"]
            .as_f64()
            .unwrap()
            .is_finite(),
        "{v}"
    );
}

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/golden")
        .join(name)
}

/// `amt convert` on a Lightning-shaped checkpoint written by torch.save
/// (`model/tests/golden/make_ckpt.py`): the state dict comes out under YourMT3's names with
/// the same values, the optimiser state and pitch-shifter buffers are dropped, the flags are
/// inferred (architecture from the weights, the rest from the stored hyper-parameters), and
/// `amt transcribe` runs on the result.
#[test]
fn convert_reads_a_lightning_checkpoint_and_transcribe_uses_it() {
    let home = Home::new();
    let out = home.path().join("conv/moe.safetensors");
    let v: serde_json::Value = serde_json::from_str(&home.ok(&[
        "convert",
        golden("ptf_moe_multi.ckpt").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    let c = &v["converted"];
    let flags: Vec<&str> = c["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let text = flags.join(" ");
    for want in [
        "-tk mc13_full_plus_256",
        "-dec multi-t5",
        "-nl 13",
        "-enc perceiver-tf",
        "-sqr 1",
        "-ff moe",
        "-nmoe 4",
        "-kmoe 2",
        "-act silu",
        "-epe rope",
        "-rp 1",
        "--pe-compat 1",
        "-ac spec",
        "-hop 300",
    ] {
        assert!(text.contains(want), "{want} in {text}");
    }
    assert_eq!(c["dropped"]["pitch shifter buffers"], 2);
    assert_eq!(c["dropped"]["optimizer states"], 1);
    assert_eq!(c["assumed"].as_array().unwrap().len(), 0, "{c}");
    // Every tensor equals YourMT3's (the golden weights the checkpoint was made from).
    let got = tch::Tensor::read_safetensors(&out).unwrap();
    let want = tch::Tensor::read_safetensors(golden("ptf_moe_multi_weights.safetensors")).unwrap();
    assert_eq!(got.len(), want.len());
    let want: std::collections::HashMap<_, _> = want.into_iter().collect();
    for (name, t) in &got {
        assert!(!name.contains("pitchshift"));
        assert!(t.equal(&want[name]), "{name}");
    }
    let tone: Vec<f32> = (0..40_000)
        .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.3)
        .collect();
    home.write("in/tone.wav", &wav(&tone, 16_000, 1));
    let printed = home.ok(&[
        "transcribe",
        "--checkpoint",
        out.to_str().unwrap(),
        "-o",
        home.path().join("midi").to_str().unwrap(),
        home.path().join("in/tone.wav").to_str().unwrap(),
    ]);
    assert!(printed.contains("tone.wav"), "{printed}");
    assert!(home.path().join("midi/tone.mid").exists());
}

/// A pickle that would run code (`__reduce__` returning os.system) is refused by the
/// global's name, and nothing is written; so is a truncated checkpoint.
#[test]
fn convert_refuses_code_and_damaged_files() {
    let home = Home::new();
    let out = home.path().join("bad.safetensors");
    let r = home.run(&[
        "convert",
        golden("malicious.ckpt").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("refusing global `posix.system`"), "{err}");
    assert!(!out.exists() && !home.path().join("bad.json").exists());
    // Cut the good checkpoint in half.
    let bytes = std::fs::read(golden("ptf_moe_multi.ckpt")).unwrap();
    home.write("half.ckpt", &bytes[..bytes.len() / 2]);
    let r = home.run(&[
        "convert",
        home.path().join("half.ckpt").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(1), "{err}");
    assert!(err.contains("half.ckpt"), "{err}");
    assert!(!out.exists());
}
