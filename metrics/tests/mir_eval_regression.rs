//! mir_eval's own regression data: every score in every `output*.json` must
//! be reproduced within 1e-9.

mod common;

use amt_metrics::{transcription, velocity};
use common::{fixture_dir, numbered, read_json, read_rows};

const TOL: f64 = 1e-9;

fn compare(
    case: &str,
    got: &std::collections::BTreeMap<&'static str, f64>,
    want: &serde_json::Map<String, serde_json::Value>,
) -> usize {
    let got_keys: Vec<&str> = got.keys().copied().collect();
    let mut want_keys: Vec<&str> = want.keys().map(String::as_str).collect();
    want_keys.sort_unstable();
    assert_eq!(got_keys, want_keys, "{case}: score names differ");
    for (k, v) in want {
        let w = v.as_f64().unwrap();
        let g = got[k.as_str()];
        assert!((g - w).abs() <= TOL, "{case} {k}: got {g}, mir_eval {w}");
    }
    want.len()
}

#[test]
fn transcription_regression() {
    let dir = fixture_dir("transcription");
    let outputs = numbered(&dir, "output", ".json");
    assert_eq!(outputs.len(), 10, "expected 10 output*.json files");
    let mut checked = 0;
    for (num, out_path) in outputs {
        let load = |prefix: &str| {
            let rows = read_rows(&dir.join(format!("{prefix}{num}.txt")));
            let iv: Vec<[f64; 2]> = rows.iter().map(|r| [r[0], r[1]]).collect();
            let hz: Vec<f64> = rows.iter().map(|r| r[2]).collect();
            (iv, hz)
        };
        let (ri, rp) = load("ref");
        let (ei, ep) = load("est");
        let got = transcription::evaluate(&ri, &rp, &ei, &ep).unwrap();
        checked += compare(&format!("transcription/{num}"), &got, &read_json(&out_path));
    }
    assert_eq!(checked, 10 * 14);
}

#[test]
fn transcription_velocity_regression() {
    let dir = fixture_dir("transcription_velocity");
    let outputs = numbered(&dir, "output", ".json");
    assert_eq!(outputs.len(), 10, "expected 10 output*.json files");
    let mut checked = 0;
    for (num, out_path) in outputs {
        let load = |prefix: &str| {
            let rows = read_rows(&dir.join(format!("{prefix}{num}.txt")));
            let iv: Vec<[f64; 2]> = rows.iter().map(|r| [r[0], r[1]]).collect();
            let p: Vec<f64> = rows.iter().map(|r| r[2]).collect();
            let v: Vec<f64> = rows.iter().map(|r| r[3]).collect();
            (iv, p, v)
        };
        let (ri, rp, rv) = load("ref");
        let (ei, ep, ev) = load("est");
        let got = velocity::evaluate(&ri, &rp, &rv, &ei, &ep, &ev).unwrap();
        checked += compare(
            &format!("transcription_velocity/{num}"),
            &got,
            &read_json(&out_path),
        );
    }
    assert_eq!(checked, 10 * 8);
}
