//! Shared helpers for integration tests: locating `shared/fixtures` and
//! reading mir_eval's note-list text files.

use std::path::PathBuf;

/// `$AMT_SHARED` if set, else `../../shared` from the crate (the crate lives
/// at `<root>/main/metrics` or `<root>/helpers/metrics`, shared at
/// `<root>/shared`).
pub fn shared_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("AMT_SHARED") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

pub fn fixture_dir(name: &str) -> PathBuf {
    let dir = shared_dir().join("fixtures/mir_eval_tests").join(name);
    assert!(
        dir.is_dir(),
        "fixture folder `{}` not found; set AMT_SHARED to the shared/ folder",
        dir.display()
    );
    dir
}

/// Whitespace-separated numeric rows, `#` comments and blank lines skipped
/// (mir_eval's `io.load_delimited`).
pub fn read_rows(path: &std::path::Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.split_whitespace()
                .map(|t| {
                    t.parse::<f64>()
                        .unwrap_or_else(|e| panic!("`{}`: bad number `{t}`: {e}", path.display()))
                })
                .collect()
        })
        .collect()
}

/// `(stem number, path)` of files named `<prefix><digits>.<ext>`, sorted.
pub fn numbered(dir: &std::path::Path, prefix: &str, ext: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            let name = p.file_name()?.to_str()?.to_string();
            let num = name.strip_prefix(prefix)?.strip_suffix(ext)?.to_string();
            num.chars().all(|c| c.is_ascii_digit()).then_some((num, p))
        })
        .collect();
    out.sort();
    out
}

pub fn read_json(path: &std::path::Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    match serde_json::from_str(&text).unwrap() {
        serde_json::Value::Object(m) => m,
        other => panic!("`{}` is not a JSON object: {other}", path.display()),
    }
}
