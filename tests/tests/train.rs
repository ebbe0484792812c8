//! `amt train`, `amt model`, `amt transcribe` on a tiny generated dataset: exact resume after a
//! kill during a checkpoint save, fallback from a corrupt checkpoint, flags, the metrics table,
//! and transcriptions that read back.

mod common;

use std::path::{Path, PathBuf};

use common::tiny::{json_of, run_dir, tiny_args, tiny_dataset, tiny_train};
use common::{Home, wav};

/// blake3 of a checkpoint's weights and optimiser moments, as its state records them.
fn hashes(ckpt: &Path) -> (String, String) {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ckpt.join("state.json")).unwrap()).unwrap();
    (
        s["hashes"]["model.safetensors"]
            .as_str()
            .unwrap()
            .to_string(),
        s["hashes"]["optimizer.safetensors"]
            .as_str()
            .unwrap()
            .to_string(),
    )
}

/// A run pins the artifacts it reads; resuming after its data changed is refused, naming the
/// change, until `--repin`.
#[test]
fn a_run_whose_data_changed_resumes_only_with_repin() {
    let home = Home::new();
    let name = tiny_dataset(&home);
    let first = json_of(&tiny_train(&home, "pinned", 4, &["--stop-after", "2"]));
    assert_eq!(first["steps"], 2);

    // One sample of one training piece's audio changes.
    let train = home.path().join(name).join("train");
    let piece = std::fs::read_dir(&train)
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    let mix = piece.join("mix.wav");
    let mut bytes = std::fs::read(&mix).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&mix, &bytes).unwrap();

    let refused = tiny_train(&home, "pinned", 4, &[]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("its data changed since it was pinned") && err.contains("--repin"),
        "{err}"
    );
    assert!(
        err.contains("`shards`"),
        "names the changed artifact: {err}"
    );

    let resumed = json_of(&tiny_train(&home, "pinned", 4, &["--repin"]));
    assert_eq!(
        (resumed["resumed_from"].as_u64(), resumed["steps"].as_u64()),
        (Some(2), Some(4))
    );
    // Pinned anew: the next resume needs no flag.
    let again = json_of(&tiny_train(&home, "pinned", 5, &[]));
    assert_eq!(again["steps"], 5);
}

#[test]
fn a_run_killed_while_saving_resumes_exactly() {
    let home = Home::new();
    tiny_dataset(&home);
    // Straight: 6 steps.
    let straight = json_of(&tiny_train(&home, "straight", 6, &[]));
    assert_eq!(straight["steps"], 6);
    assert_eq!(straight["world_size"], 1);
    assert!(straight["final_loss"].as_f64().unwrap().is_finite());
    let straight_ckpt = PathBuf::from(straight["checkpoint"].as_str().unwrap());
    assert!(straight_ckpt.ends_with("ckpt-6"), "{straight_ckpt:?}");

    // Killed (abort, as kill -9) while writing checkpoint 4: checkpoint 2 is intact.
    let dir = run_dir(&home, "resumed");
    let args = tiny_args("resumed", 6, &[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = home
        .cmd(&refs)
        .env("AMT_FAULT", "checkpoint-save-4")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the fault aborts the process");
    let ckpts = dir.join("checkpoints");
    assert!(ckpts.join("ckpt-2").is_dir());
    assert!(
        !ckpts.join("ckpt-4").exists(),
        "a half-written checkpoint is never visible"
    );

    // Resume: from step 2 to 6, identical to the straight run.
    let resumed = json_of(&tiny_train(&home, "resumed", 6, &[]));
    assert_eq!(resumed["resumed_from"], 2);
    assert_eq!(resumed["steps"], 6);
    let resumed_ckpt = PathBuf::from(resumed["checkpoint"].as_str().unwrap());
    assert_eq!(hashes(&resumed_ckpt), hashes(&straight_ckpt));
    assert_eq!(resumed["final_loss"], straight["final_loss"]);
    // The leftover of the killed save is gone from view and never listed.
    let names: Vec<String> = std::fs::read_dir(&ckpts)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(names.iter().all(|n| n.starts_with("ckpt-")), "{names:?}");

    // Stopping after N steps (as Ctrl-C does) and resuming is exact too.
    let first = json_of(&tiny_train(&home, "stopped", 6, &["--stop-after", "3"]));
    assert_eq!(
        (first["steps"].as_i64(), first["stopped_early"].as_bool()),
        (Some(3), Some(true))
    );
    let rest = json_of(&tiny_train(&home, "stopped", 6, &[]));
    assert_eq!(rest["resumed_from"], 3);
    let ckpt = PathBuf::from(rest["checkpoint"].as_str().unwrap());
    assert_eq!(hashes(&ckpt), hashes(&straight_ckpt));

    // The metrics table holds each step once, across the kill and the resume.
    let csv = home.sql_csv(
        "SELECT run, count(*) AS n, count(DISTINCT step) AS steps FROM train_metrics \
         WHERE metric = 'train/loss' GROUP BY run ORDER BY run",
    );
    assert_eq!(
        csv.trim(),
        "run,n,steps\nresumed,6,6\nstopped,6,6\nstraight,6,6",
        "{csv}"
    );
    // TensorBoard event files were written.
    let tb = std::fs::read_dir(dir.join("tensorboard")).unwrap().count();
    assert!(tb >= 2, "one event file per process: {tb}");
}

#[test]
fn a_corrupt_checkpoint_is_named_and_the_previous_one_used() {
    let home = Home::new();
    tiny_dataset(&home);
    json_of(&tiny_train(&home, "x", 4, &[]));
    let ckpts = run_dir(&home, "x").join("checkpoints");
    // Truncate the newest checkpoint's weights.
    let newest = ckpts.join("ckpt-4").join("model.safetensors");
    let bytes = std::fs::read(&newest).unwrap();
    std::fs::write(&newest, &bytes[..bytes.len() / 2]).unwrap();
    let out = tiny_train(&home, "x", 6, &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let v = json_of(&out);
    assert_eq!(v["resumed_from"], 2, "{err}");
    assert_eq!(v["steps"], 6);
    assert!(err.contains(&newest.display().to_string()), "{err}");
    assert!(err.contains("corrupt or truncated"), "{err}");
    // A run with no usable checkpoint at all is a clear error for transcription.
    let out = home.run(&["transcribe", "--exp", "nope", "-o", "out", "a.wav"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run `nope` has no usable checkpoint"));
}

#[test]
fn transcribe_writes_midi_that_reads_back_and_reports_bad_files() {
    let home = Home::new();
    tiny_dataset(&home);
    let v = json_of(&tiny_train(&home, "t", 2, &[]));
    let ckpt = v["checkpoint"].as_str().unwrap().to_string();
    // 5 s of a stereo 44.1 kHz tone, and a file that is not audio.
    let n = 44_100 * 5;
    let stereo: Vec<f32> = (0..n)
        .flat_map(|i| {
            let s = (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 44_100.0).sin() * 0.3;
            [s, s]
        })
        .collect();
    home.write("in/tone.wav", &wav(&stereo, 44_100, 2));
    home.write("in/broken.wav", b"RIFF this is not a wave file");
    let out_dir = home.path().join("out");
    let out = home.run(&[
        "transcribe",
        "--checkpoint",
        &ckpt,
        "-o",
        out_dir.to_str().unwrap(),
        "--png",
        "--json",
        home.path().join("in/broken.wav").to_str().unwrap(),
        home.path().join("in/tone.wav").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "one file failed: {err}");
    assert!(err.contains("broken.wav"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["failed"], 1);
    let midi = out_dir.join("tone.mid");
    let notes = amt_symbolic::midi_to_notes(
        &std::fs::read(&midi).unwrap(),
        &amt_symbolic::MidiToNotesConfig::as_written(false),
    );
    assert!(notes.is_ok(), "{notes:?}");
    let png = std::fs::read(out_dir.join("tone.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // `--exp` finds the run's newest checkpoint and gives the same transcription.
    let again = home.ok(&[
        "transcribe",
        "--exp",
        "t",
        "-o",
        home.path().join("out2").to_str().unwrap(),
        home.path().join("in/tone.wav").to_str().unwrap(),
    ]);
    assert!(again.contains("tone.wav"), "{again}");
    assert_eq!(
        std::fs::read(home.path().join("out2/tone.mid")).unwrap(),
        std::fs::read(&midi).unwrap()
    );
}

#[test]
fn flags_are_yourmt3s_and_unbuilt_parts_are_refused() {
    let home = Home::new();
    // The default configuration is YMT3+ with YourMT3's parameter count.
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["model", "info", "--json"])).unwrap();
    assert_eq!(v["params"], 44_672_000);
    assert_eq!(v["model"]["encoder"]["num_layers"], 8);
    assert!(
        v["tensors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "encoder.encoder.block.0.layer.0.SelfAttention.q.weight"),
        "YourMT3's names"
    );
    // Aliases are rewritten before parsing: `-vit` is not `-v -i -t`, `-it` sets max steps.
    let v: serde_json::Value = serde_json::from_str(&home.ok(&[
        "model", "info", "--json", "-vit", "7", "-it", "99", "-bsz", "3", "-lr", "0.5", "-o",
        "adamw", "-s", "constant", "-el", "256", "-edr", "0.2",
    ]))
    .unwrap();
    assert_eq!(v["train"]["val_interval"], 7);
    assert_eq!(v["train"]["max_steps"], 99);
    assert_eq!(v["train"]["batch_size"], 3);
    assert_eq!(v["train"]["lr"], 0.5);
    assert_eq!(v["train"]["optimizer"]["kind"], "adam_w");
    assert_eq!(v["train"]["schedule"], "constant");
    assert_eq!(v["model"]["event_length"], 256);
    assert_eq!(v["model"]["encoder"]["dropout_rate"], 0.2);
    for (flags, needle) in [
        (
            &["-dpe", "trainable"][..],
            "not built yet: --decoder-position-encoding-type trainable",
        ),
        (&["-dec", "multi-t5"][..], "use -tk mc13_full_plus_256"),
        (&["-tk", "mc13_full_plus_256"][..], "it needs -dec multi-t5"),
        (
            &["-ff", "moe"][..],
            "not built yet: --ff-layer-type moe (MoE and gMLP in T5 blocks",
        ),
        (
            &["-nl", "26"][..],
            "--num-latents is an option of the Perceiver-TF encoder",
        ),
        (
            &["-enc", "perceiver-tf", "-ln", "rms_norm"][..],
            "not built yet: --layer-norm-type rms_norm (only layer_norm (YourMT3 ignores -ln",
        ),
        (
            &["-enc", "perceiver-tf", "-rt", "lll"][..],
            "not built yet: --rotary-type lll",
        ),
        // Augmentation is built; values out of range are refused by flag.
        (
            &["-ps", "2", "-2"][..],
            "--pitch-shift-range 2 -2: semitones",
        ),
        (&["-iaug", "2"][..], "--stem-iaug-prob 2: a probability"),
        (
            &["-st", "deepspeed"][..],
            "not built yet: --strategy deepspeed",
        ),
        // Data parallel is built: asking for 2 GPUs in one process says how to start 2 ranks.
        (&["-st", "ddp", "-g", "2"][..], "amt launch --nproc 2"),
    ] {
        let mut args = vec!["train", "x"];
        args.extend_from_slice(flags);
        let out = home.run(&args);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{flags:?}: {err}");
    }
    // The values that disable augmentation are accepted.
    let out = home.run(&["model", "info", "-ps", "0", "0", "-xk", "0", "-iaug", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The four released configurations, by the flags of YourMT3's README, have its exact
/// trainable parameter counts (spec section 7.4).
#[test]
fn released_configurations_by_their_flags() {
    let home = Home::new();
    let ptf = [
        "-enc",
        "perceiver-tf",
        "-ac",
        "spec",
        "-hop",
        "300",
        "-atc",
        "1",
    ];
    let multi = ["-tk", "mc13_full_plus_256", "-dec", "multi-t5", "-nl", "26"];
    let moe = [
        "-sqr", "1", "-ff", "moe", "-wf", "4", "-nmoe", "8", "-kmoe", "2", "-act", "silu", "-epe",
        "rope", "-rp", "1",
    ];
    let cases: [(Vec<&str>, i64); 4] = [
        (vec![], 44_672_000),
        (ptf.to_vec(), 29_868_416),
        ([&multi[..], &ptf[..]].concat(), 28_457_600),
        ([&multi[..], &moe[..], &ptf[..]].concat(), 46_548_608),
    ];
    for (flags, params) in cases {
        let mut args = vec!["model", "info", "--json"];
        args.extend_from_slice(&flags);
        let v: serde_json::Value = serde_json::from_str(&home.ok(&args)).unwrap();
        assert_eq!(v["params"], params, "{flags:?}");
    }
    let mut args = vec!["model", "info", "--json"];
    args.extend_from_slice(&multi);
    args.extend_from_slice(&ptf);
    let v: serde_json::Value = serde_json::from_str(&home.ok(&args)).unwrap();
    assert_eq!(v["model"]["num_channels"], 13);
    assert_eq!(v["model"]["event_length"], 256);
    assert_eq!(v["model"]["feat_length"], 110);
    assert_eq!(v["model"]["d_feat"], 1024);
}

/// `amt model forward` on a checkpoint's weights: its spectrogram equals `amt features`, and
/// the teacher-forced logits on the greedy tokens predict those tokens (greedy decoding and
/// the training forward agree).
#[test]
fn model_forward_agrees_with_features_and_greedy_decoding() {
    let home = Home::new();
    tiny_dataset(&home);
    let v = json_of(&tiny_train(&home, "f", 2, &[]));
    let ckpt = PathBuf::from(v["checkpoint"].as_str().unwrap());
    let wave: Vec<f32> = (0..40_000)
        .map(|i| (2.0 * std::f32::consts::PI * 220.0 * i as f32 / 16_000.0).sin() * 0.4)
        .collect();
    let x = home.path().join("x.npy");
    amt_model::npy::write(&x, &[wave.len()], &wave).unwrap();
    let out = home.path().join("fwd");
    home.ok(&[
        "model",
        "forward",
        "--model",
        "demo",
        "-el",
        "32",
        "--weights",
        ckpt.join("model.safetensors").to_str().unwrap(),
        "--waveform-npy",
        x.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let feat = home.path().join("feat.npy");
    home.ok(&[
        "features",
        "--n-mels",
        "128",
        "--waveform-npy",
        x.to_str().unwrap(),
        "--npy",
        feat.to_str().unwrap(),
    ]);
    let (s1, spec) = amt_model::npy::read::<f32>(&out.join("spectrogram.npy")).unwrap();
    let (s2, features) = amt_model::npy::read::<f32>(&feat).unwrap();
    assert_eq!(s1, [2, 256, 128]);
    assert_eq!(s1, s2);
    // The same front-end code: equal up to the last bits libtorch's threaded FFT may round
    // differently from one process to another.
    let (worst, at) = spec
        .iter()
        .zip(&features)
        .enumerate()
        .map(|(i, (a, b))| ((a - b).abs(), i))
        .fold((0f32, 0), |m, x| if x.0 > m.0 { x } else { m });
    assert!(
        worst <= 1e-5,
        "model forward vs features: max difference {worst} at {at} ({} vs {})",
        spec[at],
        features[at]
    );
    let (es, _) = amt_model::npy::read::<f32>(&out.join("encoder_output.npy")).unwrap();
    assert_eq!(es, [2, 256, 128]);
    let (gs, greedy) = amt_model::npy::read::<i64>(&out.join("greedy_tokens.npy")).unwrap();
    assert_eq!(gs, [2, 32]);
    let (ls, logits) = amt_model::npy::read::<f32>(&out.join("logits.npy")).unwrap();
    assert_eq!(ls, [2, 32, 596]);
    for seg in 0..2 {
        for t in 0..32 {
            let tok = greedy[seg * 32 + t];
            let row = &logits[(seg * 32 + t) * 596..(seg * 32 + t + 1) * 596];
            let argmax = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0 as i64;
            assert_eq!(argmax, tok, "segment {seg} position {t}");
            if tok == 1 {
                break; // after EOS the greedy row is padding
            }
        }
    }
}
