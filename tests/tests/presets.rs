//! YourMT3's data presets: every vocabulary they name exists, and `amt presets show` gives the
//! spec's derived sampling shares for all_cross_final's file counts.

mod common;

use common::Home;

#[test]
fn every_vocabulary_a_preset_names_exists() {
    let p = amt_stages::presets::Presets::bundled();
    for name in p.names() {
        for m in p.resolve(name).unwrap().members {
            if let Some(v) = &m.eval_vocab {
                amt_metrics::vocab::eval_vocab(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
            if let Some(v) = &m.drum_vocab {
                amt_metrics::vocab::drum_vocab(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}

#[test]
fn all_cross_final_shares_match_the_spec() {
    let home = Home::new();
    // The spec's file counts (section 2.2) and its derived percentages.
    let rows = [
        ("slakh_final", 1875, 55.2),
        ("musicnet_thickstun_em", 633, 12.3),
        ("mir_st500_voc", 400, 7.9),
        ("enstdrums_dtp", 404, 2.1),
        ("guitarset_progression_pshift", 5280, 4.9),
        ("egmd", 35217, 3.7),
        ("urmp", 35, 0.4),
        ("maestro_final", 1099, 11.2),
        ("idmt_smt_bass", 1872, 1.9),
        ("cmedia_voc", 100, 0.5),
    ];
    let counts: Vec<String> = rows.iter().map(|(p, n, _)| format!("{p}={n}")).collect();
    let mut args = vec!["presets", "show", "all_cross_final", "--json"];
    for c in &counts {
        args.extend(["--count", c.as_str()]);
    }
    let v: serde_json::Value = serde_json::from_str(&home.ok(&args)).unwrap();
    assert_eq!(v["name"], "all_cross_final");
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 10);
    for (m, (preset, n, pct)) in members.iter().zip(rows) {
        assert_eq!(m["preset"], preset);
        assert_eq!(m["train_files"], n);
        let got = 100.0 * m["probability"].as_f64().unwrap();
        assert!((got - pct).abs() < 0.1, "{preset}: {got:.2} % vs {pct} %");
    }
    // Without counts and with nothing built, shares are unknown and each member says why.
    let v: serde_json::Value =
        serde_json::from_str(&home.ok(&["presets", "show", "minimal", "--json"])).unwrap();
    let m = &v["members"][0];
    assert!(m["probability"].is_null());
    assert!(
        m["why_no_count"].as_str().unwrap().contains("splits"),
        "{m}"
    );
    // A dropped preset of the original says why.
    let out = home.run(&["presets", "show", "all_cross_stem"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mir_st500_stem"));
}

/// `-d` takes presets and plain datasets together: each member trains with its weight and is
/// validated under its own name.
#[test]
fn train_reads_the_members_of_its_data_presets() {
    let home = Home::new();
    common::tiny::tiny_dataset(&home);
    // A small `synth-demo` in place: the preset of that name reads it.
    amt_stages::synth::generate(
        &home.path().join("synth-demo"),
        &amt_stages::synth::SynthConfig {
            seed: 9,
            pieces: 12,
        },
    )
    .unwrap();
    let out = common::tiny::tiny_train(
        &home,
        "two",
        2,
        &[
            "-d",
            "synth-demo,tiny-synth-demo",
            "--val-max-num-files",
            "1",
        ],
    );
    let v = common::tiny::json_of(&out);
    let metrics = v["metrics"].as_object().unwrap();
    for member in ["synth-demo", "tiny-synth-demo"] {
        assert!(
            metrics.contains_key(&format!("validation/({member})onset_f")),
            "{member}: {metrics:?}"
        );
    }
    let plan: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::tiny::run_dir(&home, "two").join("plan.json")).unwrap(),
    )
    .unwrap();
    let members = plan["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["preset"], "synth-demo");
    assert_eq!(members[0]["train"], serde_json::json!(["train"]));
    assert_eq!(members[1]["dataset"], "tiny-synth-demo");
    // The resolved preset is published and queryable: entries and shares as the sampler sees
    // them (YourMT3's formula over the members' training entries).
    let csv = home.sql_csv(
        "SELECT preset, member, dataset, train_lists, train_entries, probability \
         FROM data_presets ORDER BY member",
    );
    let rows: Vec<Vec<String>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert_eq!(
        rows[0][..4],
        [
            "synth-demo.tiny-synth-demo",
            "synth-demo",
            "synth-demo",
            "train"
        ]
    );
    let n: Vec<f64> = rows.iter().map(|r| r[4].parse().unwrap()).collect();
    let p: Vec<f64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
    let raw: Vec<f64> = n.iter().map(|&k| k * (1.0 - k / (n[0] + n[1]))).collect();
    for i in 0..2 {
        assert!((p[i] - raw[i] / (raw[0] + raw[1])).abs() < 1e-9, "{csv}");
    }
    // A preset of the original that cannot work is refused with its reason.
    let out = common::tiny::tiny_train(&home, "bad", 2, &["-d", "all_cross_stem"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("mir_st500_stem"));
}

/// A preset on named lists: `guitarset_progression` trains on GuitarSet's `progression_1` and
/// `progression_2` and validates on `progression_3`; `guitarset_pshift` trains on the
/// pitch-shifted renderings' lists.
#[test]
fn a_preset_on_named_lists_trains_on_them() {
    let home = Home::new();
    // The fixture's one track with audio (player 3, progression 3), copied once more as
    // player 1's take of progression 1, so that both lists have a track.
    let src = common::fixtures().join("guitarset");
    let dst = home.path().join("guitarset");
    for dir in std::fs::read_dir(&src).unwrap() {
        let dir = dir.unwrap().path();
        let sub = dst.join(dir.file_name().unwrap());
        std::fs::create_dir_all(&sub).unwrap();
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::copy(&f, sub.join(&name)).unwrap();
            if name.starts_with("03_BN3-119-G_solo") {
                let renamed = name.replace("03_BN3-119-G_solo", "01_BN1-119-G_solo");
                std::fs::copy(&f, sub.join(renamed)).unwrap();
            }
        }
    }
    let v = common::tiny::json_of(&common::tiny::tiny_train(
        &home,
        "prog",
        2,
        &["-d", "guitarset_progression"],
    ));
    assert_eq!(v["steps"], 2);
    assert!(
        v["metrics"]
            .as_object()
            .unwrap()
            .contains_key("validation/(guitarset_progression)onset_f"),
        "{v}"
    );
    // `_pshift` lists: each training track and its 10 pitch-shifted renderings.
    let v = common::tiny::json_of(&common::tiny::tiny_train(
        &home,
        "pshift",
        2,
        &["-d", "guitarset_pshift"],
    ));
    assert_eq!(v["steps"], 2);
    let n = home.sql_csv(
        "SELECT count(*) AS n FROM splits WHERE dataset = 'guitarset' AND split = 'train_pshift'",
    );
    let train = home.sql_csv(
        "SELECT count(*) AS n FROM splits WHERE dataset = 'guitarset' AND split = 'train'",
    );
    let count = |csv: &str| csv.lines().nth(1).unwrap().parse::<usize>().unwrap();
    assert_eq!(count(&n), 11 * count(&train));
}
