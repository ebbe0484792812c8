//! `parts-child STORE DATA`: builds the test stage `parts` (see `amt_tests::PartsStage`) in a
//! process of its own, so that a test can kill it midway.

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert_eq!(args.len(), 3, "usage: parts-child STORE DATA");
    let report = amt_tests::run_parts(args[1].as_ref(), args[2].as_ref(), "");
    assert!(!report.failed(), "{report:?}");
}
