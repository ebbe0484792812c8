//! Training-time augmentation through `amt train`: the dump of what the model is fed
//! (deterministic for a seed, listenable, its targets readable), and the YPTF.MoE+Multi (PS)
//! flags training on the augmented stream and resuming exactly.

mod common;

use std::path::{Path, PathBuf};

use common::Home;
use common::tiny::{TINY_MOE_MULTI, json_of, tiny_args, tiny_dataset, tiny_train};

/// YourMT3's augmentation flags (the demo model turns them off by default).
const AUG: &[&str] = &[
    "-ps", "-2", "2", "-iaug", "0.7", "-xk", "3", "-amp", "0.8", "1.1",
];

fn dump(home: &Home, dir: &Path, seed: &str) -> serde_json::Value {
    let mut extra: Vec<&str> = AUG.to_vec();
    extra.extend([
        "--seed",
        seed,
        "--dry-run-batches",
        "5",
        "--dump",
        dir.to_str().unwrap(),
    ]);
    let args = tiny_args("dry", 1, &extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    json_of(&home.run(&refs))
}

/// The names of the files that differ between two dumps (or exist in one only).
fn differing(a: &Path, b: &Path) -> Vec<String> {
    let (fa, fb) = (files(a), files(b));
    let names: std::collections::BTreeSet<&String> = fa.iter().chain(&fb).map(|(n, _)| n).collect();
    names
        .into_iter()
        .filter(|n| {
            fa.iter().find(|(m, _)| m == *n).map(|(_, x)| x)
                != fb.iter().find(|(m, _)| m == *n).map(|(_, x)| x)
        })
        .cloned()
        .collect()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn dry_run_dumps_what_the_model_is_fed_the_same_way_for_a_seed() {
    let home = Home::new();
    tiny_dataset(&home);
    let a = home.path().join("dump-a");
    let index = dump(&home, &a, "5");
    let segments = index["segments"].as_array().unwrap();
    assert_eq!(
        segments.len(),
        5,
        "the first 5 rows: 2 batches of 2 and one row"
    );
    let names: Vec<&str> = segments
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["b000-00", "b000-01", "b001-00", "b001-01", "b002-00"]
    );
    let mut shifts = std::collections::BTreeSet::new();
    let mut mixed = 0;
    for s in segments {
        let name = s["name"].as_str().unwrap();
        let st = s["semitones"].as_i64().unwrap();
        assert!((-2..=2).contains(&st), "{s}");
        shifts.insert(st);
        assert!(s["externals"].as_u64().unwrap() <= 3, "{s}");
        mixed += usize::from(s["externals"].as_u64().unwrap() > 0);
        assert_eq!(s["truncated_tokens"], 0, "{s}");
        for g in s["gains"].as_array().unwrap() {
            let g = g.as_f64().unwrap();
            assert!((0.8..=1.1).contains(&g), "{s}");
        }
        // 16 kHz mono int16 WAV of one segment.
        let wav = std::fs::read(a.join(format!("{name}.wav"))).unwrap();
        assert_eq!(wav.len(), 44 + 2 * 32767, "{name}");
        assert_eq!(&wav[24..28], &16_000u32.to_le_bytes());
        // Its targets read back as MIDI with the counted notes.
        let mid = std::fs::read(a.join(format!("{name}.mid"))).unwrap();
        let notes =
            amt_symbolic::midi_to_notes(&mid, &amt_symbolic::MidiToNotesConfig::as_written(false))
                .unwrap();
        assert_eq!(
            notes.notes.len() as u64,
            s["target_notes"].as_u64().unwrap(),
            "{name}"
        );
        let png = std::fs::read(a.join(format!("{name}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
    assert!(mixed > 0, "some segment got external stems: {index}");
    assert!(shifts.len() > 1, "pitch shifts drawn: {shifts:?}");

    // Same seed, same bytes; another seed, other segments.
    let b = home.path().join("dump-b");
    dump(&home, &b, "5");
    assert_eq!(
        differing(&a, &b),
        Vec::<String>::new(),
        "same seed, other bytes"
    );
    let c = home.path().join("dump-c");
    dump(&home, &c, "6");
    assert!(
        !differing(&a, &c).is_empty(),
        "another seed, the same bytes"
    );

    // A folder with something in it is refused by name, and kept as it was.
    let args = tiny_args(
        "dry",
        1,
        &["--dry-run-batches", "1", "--dump", a.to_str().unwrap()],
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = home.run(&refs);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dump-a") && err.contains("not empty"), "{err}");
    assert_eq!(
        differing(&a, &b),
        Vec::<String>::new(),
        "the refused dump changed dump-a"
    );
    // Nothing was trained.
    assert!(!home.store().join("runs").join("dry").exists());
    // A folder given to -d is named, with the dataset name to use instead (never a panic).
    let folder = home.path().join("tiny-synth-demo");
    let args = tiny_args(
        "dry",
        1,
        &[
            "-d",
            folder.to_str().unwrap(),
            "--dry-run-batches",
            "1",
            "--dump",
            home.path().join("dump-d").to_str().unwrap(),
        ],
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = home.run(&refs);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is dataset `tiny-synth-demo`"), "{err}");
}

/// blake3 of a checkpoint's weights, as its state records them.
fn weights_hash(ckpt: &Path) -> String {
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ckpt.join("state.json")).unwrap()).unwrap();
    s["hashes"]["model.safetensors"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_moe_multi_ps_flags_train_on_augmented_segments_and_resume_exactly() {
    let home = Home::new();
    tiny_dataset(&home);
    let flags = [TINY_MOE_MULTI, AUG].concat();
    let straight = json_of(&tiny_train(&home, "ps", 3, &flags));
    assert_eq!(straight["steps"], 3, "{straight}");
    assert!(straight["final_loss"].as_f64().unwrap().is_finite());
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(home.store().join("runs/ps/plan.json")).unwrap())
            .unwrap();
    assert_eq!(plan["augment"]["pitch_shift"], serde_json::json!([-2, 2]));
    assert_eq!(plan["augment"]["xaug_max_k"], 3);

    let stopped = [flags.clone(), vec!["--stop-after", "1"]].concat();
    let first = json_of(&tiny_train(&home, "ps-resumed", 3, &stopped));
    assert_eq!(first["steps"], 1);
    let rest = json_of(&tiny_train(&home, "ps-resumed", 3, &flags));
    assert_eq!(rest["resumed_from"], 1);
    let a = PathBuf::from(straight["checkpoint"].as_str().unwrap());
    let b = PathBuf::from(rest["checkpoint"].as_str().unwrap());
    assert_eq!(weights_hash(&a), weights_hash(&b));
    assert_eq!(rest["final_loss"], straight["final_loss"]);

    // The front-end on the training device (what CUDA runs use) computes the same
    // spectrograms as the stream's workers: the same weights.
    let on_device = [flags.clone(), vec!["--frontend-on", "device"]].concat();
    let dev = json_of(&tiny_train(&home, "ps-device", 3, &on_device));
    let d = PathBuf::from(dev["checkpoint"].as_str().unwrap());
    assert_eq!(weights_hash(&a), weights_hash(&d));

    // Without augmentation the same flags read the shards: other batches, other weights.
    let plain = json_of(&tiny_train(&home, "plain", 3, TINY_MOE_MULTI));
    let c = PathBuf::from(plain["checkpoint"].as_str().unwrap());
    assert_ne!(weights_hash(&a), weights_hash(&c));
}

/// On the real fixture layouts: Slakh is read as its stems (every stem mixed when nothing is
/// dropped), MAESTRO and GuitarSet as their recordings (one source each); with YourMT3's full
/// augmentation all three feed one stream.
#[test]
fn real_datasets_are_read_as_stems_or_recordings() {
    let home = Home::new();
    let f = common::fixtures();
    let list = [
        f.join("slakh/babyslakh_16k"),
        f.join("maestro"),
        f.join("guitarset"),
    ]
    .map(|p| p.display().to_string())
    .join(",");
    home.ok(&["run", "--until", "shards", "--datasets", &list]);
    let stems = std::fs::read_dir(f.join("slakh/babyslakh_16k/Track00001/stems"))
        .unwrap()
        .count();
    let dump = |dir: &Path, flags: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "train",
            "real",
            "--model",
            "demo",
            "-d",
            "babyslakh_16k,maestro,guitarset",
            "-bsz",
            "4",
            "--dry-run-batches",
            "12",
            "--dump",
            dir.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(flags);
        json_of(&home.run(&args))
    };
    // Gains only: nothing dropped or added, so the sources are visible in the gains.
    let plain = dump(
        &home.path().join("plain"),
        &[
            "-amp", "0.8", "1.1", "-iaug", "1", "-xk", "0", "-ps", "0", "0",
        ],
    );
    let mut seen = std::collections::BTreeSet::new();
    for s in plain["segments"].as_array().unwrap() {
        let dataset = s["dataset"].as_str().unwrap();
        seen.insert(dataset.to_string());
        let n = s["gains"].as_array().unwrap().len();
        match dataset {
            "babyslakh_16k" => assert!(n > 1 && n <= stems, "{s}"),
            _ => assert_eq!(n, 1, "{s}"),
        }
        assert_eq!(s["externals"], 0);
        assert_eq!(s["semitones"], 0);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    // Everything on.
    let full = dump(
        &home.path().join("full"),
        &[
            "-amp", "0.8", "1.1", "-iaug", "0.7", "-xk", "3", "-ps", "-2", "2",
        ],
    );
    for s in full["segments"].as_array().unwrap() {
        assert_eq!(s["truncated_tokens"], 0, "{s}");
        assert!(s["externals"].as_u64().unwrap() <= 3);
        let name = s["name"].as_str().unwrap();
        assert!(
            home.path()
                .join("full")
                .join(format!("{name}.wav"))
                .is_file()
        );
    }
}
