//! The tiny training set-up the training tests share: a 16-piece synth dataset and the
//! smallest `amt train` flags that still train the demo model.

use std::path::PathBuf;
use std::process::Output;

use super::Home;

/// A small `synth-demo`-style dataset (16 pieces: 12 train, 2 validation, 2 test) in `home`.
pub fn tiny_dataset(home: &Home) -> &'static str {
    let name = "tiny-synth-demo";
    amt_stages::synth::generate(
        &home.path().join(name),
        &amt_stages::synth::SynthConfig {
            seed: 7,
            pieces: 16,
        },
    )
    .unwrap();
    name
}

/// A small YPTF.MoE+Multi: the released flags, with the sizes cut down.
#[allow(dead_code)]
pub const TINY_MOE_MULTI: &[&str] = &[
    "-tk",
    "mc13_full_plus_256",
    "-dec",
    "multi-t5",
    "-enc",
    "perceiver-tf",
    "-ac",
    "spec",
    "-hop",
    "300",
    "-atc",
    "1",
    "-sqr",
    "1",
    "-ff",
    "moe",
    "-wf",
    "2",
    "-nmoe",
    "4",
    "-kmoe",
    "2",
    "-act",
    "silu",
    "-epe",
    "rope",
    "-rp",
    "1",
    "-nl",
    "13",
    "-dl",
    "32",
    "-cout",
    "4",
    "-npb",
    "1",
    "-npl",
    "1",
    "-npt",
    "1",
    "-el",
    "16",
];

/// `train EXP` with the tiny flags: the demo model with 32-token targets, `-bsz 2`, one
/// thread, a checkpoint every 2 steps, JSON on stdout; `extra` flags replace the values of
/// the same flags (`-bsz 4`) or come last.
pub fn tiny_args(exp: &str, steps: u32, extra: &[&str]) -> Vec<String> {
    let steps = steps.to_string();
    let mut args: Vec<String> = [
        "train",
        exp,
        "--model",
        "demo",
        "-d",
        "tiny-synth-demo",
        "-el",
        "32",
        "-bsz",
        "2",
        "-it",
        &steps,
        "-vit",
        "1000",
        "-pr",
        "32",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--checkpoint-every",
        "2",
        "--val-max-num-files",
        "1",
        "--json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut i = 0;
    while i < extra.len() {
        let at = args
            .iter()
            .position(|a| a == extra[i] && a.starts_with('-'));
        match (at, extra.get(i + 1)) {
            (Some(j), Some(v)) if j + 1 < args.len() && !args[j + 1].starts_with('-') => {
                args[j + 1] = v.to_string();
                i += 2;
            }
            _ => {
                args.push(extra[i].to_string());
                i += 1;
            }
        }
    }
    args
}

/// Runs `amt train` with [`tiny_args`].
pub fn tiny_train(home: &Home, exp: &str, steps: u32, extra: &[&str]) -> Output {
    let args = tiny_args(exp, steps, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    home.run(&refs)
}

/// The one JSON object a successful command printed (panics with its output otherwise).
pub fn json_of(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

pub fn run_dir(home: &Home, exp: &str) -> PathBuf {
    home.store().join("runs").join(exp)
}
