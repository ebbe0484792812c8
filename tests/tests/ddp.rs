//! Data-parallel training over Gloo on 127.0.0.1: 2 ranks x B rows train exactly as 1 rank x
//! 2B rows, runs resume across world sizes, and a lost rank is named by the others, which stop
//! instead of hanging. Every job here is bounded by `AMT_DDP_TIMEOUT` and a test-side deadline.

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Home;
use common::tiny::{TINY_MOE_MULTI, json_of, run_dir, tiny_args, tiny_dataset, tiny_train};

/// Seconds a collective may wait for a peer in these tests.
const TIMEOUT: &str = "30";

/// `amt launch --nproc N -- <tiny train>` in `home`.
fn launch(home: &Home, nproc: usize, exp: &str, steps: u32, extra: &[&str]) -> Output {
    let n = nproc.to_string();
    let mut args = vec!["launch", "--nproc", &n, "--grace", "20", "--"];
    let train = tiny_args(exp, steps, extra);
    args.extend(train.iter().map(String::as_str));
    home.cmd(&args)
        .env("AMT_DDP_TIMEOUT", TIMEOUT)
        .output()
        .unwrap()
}

/// The weights of a checkpoint, by name.
fn weights(ckpt: &Path) -> Vec<(String, tch::Tensor)> {
    let mut w = tch::Tensor::read_safetensors(ckpt.join("model.safetensors")).unwrap();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

/// Largest absolute difference between two checkpoints' weights.
fn max_diff(a: &Path, b: &Path) -> f64 {
    let (wa, wb) = (weights(a), weights(b));
    assert_eq!(wa.len(), wb.len());
    wa.iter()
        .zip(&wb)
        .map(|((na, ta), (nb, tb))| {
            assert_eq!(na, nb);
            (ta - tb).abs().max().double_value(&[])
        })
        .fold(0.0, f64::max)
}

fn checkpoint_of(v: &serde_json::Value) -> std::path::PathBuf {
    v["checkpoint"].as_str().unwrap().into()
}

/// Float rounding differs (two half-batch gradient sums vs one), nothing else may.
const SAME: f64 = 1e-5;

#[test]
fn two_ranks_train_as_one_with_twice_the_batch_and_resume_across_world_sizes() {
    let home = Home::new();
    tiny_dataset(&home);
    let val = ["--val-max-num-files", "2"];

    // One rank, 4 rows per step.
    let one = json_of(&tiny_train(
        &home,
        "one",
        4,
        &[&val[..], &["-bsz", "4"]].concat(),
    ));
    assert_eq!(
        (one["world_size"].as_u64(), one["steps"].as_u64()),
        (Some(1), Some(4))
    );

    // Two ranks, 2 rows each: the same weights.
    let two = json_of(&launch(&home, 2, "two", 4, &val));
    assert_eq!(
        (two["world_size"].as_u64(), two["steps"].as_u64()),
        (Some(2), Some(4))
    );
    assert_eq!(two["global_batch"], 4);
    let d = max_diff(&checkpoint_of(&one), &checkpoint_of(&two));
    assert!(d < SAME, "2 x 2 rows vs 1 x 4 rows: weights differ by {d}");
    // On the CPU the buckets go after the pass unless asked (`--ddp-overlap auto`).
    assert_eq!(two["ddp_buckets_overlapped"], 0);

    // Overlapped: steps 2 to 4 all-reduce the one 25 MiB bucket from inside the backward
    // pass, or buckets of 10 kB (many, sent in order as the pass fills them). The same
    // weights again.
    let overlap = ["--ddp-overlap", "1"];
    let one_bucket = json_of(&launch(
        &home,
        2,
        "one-bucket",
        4,
        &[&val[..], &overlap].concat(),
    ));
    assert_eq!(one_bucket["ddp_buckets_overlapped"], 3);
    let small = json_of(&launch(
        &home,
        2,
        "small",
        4,
        &[&val[..], &overlap, &["--bucket-mb", "0.01"]].concat(),
    ));
    assert!(
        small["ddp_buckets_overlapped"].as_u64().unwrap() > 3,
        "{small}"
    );
    for run in [&one_bucket, &small] {
        let d = max_diff(&checkpoint_of(&one), &checkpoint_of(run));
        assert!(d < SAME, "weights differ by {d}");
    }
    assert!(
        (one["final_loss"].as_f64().unwrap() - two["final_loss"].as_f64().unwrap()).abs() < 1e-4
    );
    // Validation (files split over the ranks, scores gathered) gives the same numbers.
    let (v1, v2) = (
        one["metrics"]["validation/loss"].as_f64().unwrap(),
        two["metrics"]["validation/loss"].as_f64().unwrap(),
    );
    assert!((v1 - v2).abs() < 1e-4, "validation loss {v1} vs {v2}");
    assert_eq!(
        one["metrics"]["validation/macro_onset_f"],
        two["metrics"]["validation/macro_onset_f"]
    );

    // Two ranks stop after 2 steps; one rank with the same global batch finishes the run.
    let first = json_of(&launch(&home, 2, "two-then-one", 4, &["--stop-after", "2"]));
    assert_eq!(first["steps"], 2);
    let rest = json_of(&tiny_train(&home, "two-then-one", 4, &["-bsz", "4"]));
    assert_eq!(
        (rest["resumed_from"].as_u64(), rest["steps"].as_u64()),
        (Some(2), Some(4))
    );
    let d = max_diff(&checkpoint_of(&one), &checkpoint_of(&rest));
    assert!(d < SAME, "2 ranks then 1: weights differ by {d}");

    // And the other way round.
    let first = json_of(&tiny_train(
        &home,
        "one-then-two",
        4,
        &["-bsz", "4", "--stop-after", "2"],
    ));
    assert_eq!(first["steps"], 2);
    let rest = json_of(&launch(&home, 2, "one-then-two", 4, &[]));
    assert_eq!(
        (rest["resumed_from"].as_u64(), rest["world_size"].as_u64()),
        (Some(2), Some(2))
    );
    let d = max_diff(&checkpoint_of(&one), &checkpoint_of(&rest));
    assert!(d < SAME, "1 rank then 2: weights differ by {d}");

    // Resuming with another global batch is refused by rank 0, and rank 1 reports why.
    let out = launch(&home, 2, "one-then-two", 6, &["-bsz", "4"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("global_batch"), "{err}");
    assert!(
        err.contains("rank 0 failed"),
        "rank 1 names rank 0's error: {err}"
    );
}

/// Starts rank `rank` of a 2-rank job on `port`, training (almost) forever.
fn start_rank(home: &Home, rank: usize, port: u16, exp: &str) -> Child {
    let train = tiny_args(exp, 100_000, &[]);
    let refs: Vec<&str> = train.iter().map(String::as_str).collect();
    home.cmd(&refs)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("AMT_DDP_TIMEOUT", TIMEOUT)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits for `child` to exit, at most `limit`; kills it and fails the test past that.
fn wait_bounded(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status, err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the surviving rank did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_killed_rank_is_named_and_the_other_stops() {
    let home = Home::new();
    tiny_dataset(&home);
    for (victim, survivor) in [(1usize, 0usize), (0, 1)] {
        let exp = format!("kill-{victim}");
        let port = free_port();
        let mut ranks = [
            start_rank(&home, 0, port, &exp),
            start_rank(&home, 1, port, &exp),
        ];
        // Both are training once rank 0 has written a checkpoint.
        let ckpt = run_dir(&home, &exp).join("checkpoints").join("ckpt-2");
        let start = Instant::now();
        while !ckpt.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "the job never reached step 2"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ranks[victim].kill().unwrap(); // SIGKILL
        let _ = ranks[victim].wait();
        let (status, err) = wait_bounded(&mut ranks[survivor], Duration::from_secs(90));
        assert!(!status.success(), "rank {survivor} must fail: {err}");
        assert!(
            err.contains(&format!("rank {victim} is lost")),
            "rank {survivor} names rank {victim}: {err}"
        );
    }
}

/// Without Gloo in the build, or with bad variables, `amt train` says what is wrong.
/// The tiny YPTF.MoE+Multi trains under data parallelism (2 ranks, each routing its own
/// batch; that an expert idle on one rank still all-reduces a zero gradient is tested in
/// `ffn.rs`) to finite weights, on augmented segments, with the gradients all-reduced during
/// the backward pass (an expert no token reached fires no hook: its bucket goes after it).
#[test]
fn two_ranks_train_the_moe_model() {
    let home = Home::new();
    tiny_dataset(&home);
    let v = json_of(&launch(
        &home,
        2,
        "moe",
        3,
        &[
            &[
                "-vit",
                "1000",
                "--val-max-num-files",
                "1",
                "--ddp-overlap",
                "1",
            ][..],
            TINY_MOE_MULTI,
            // YourMT3's augmentation: each rank builds its rows from the pinned stem audio.
            &["-ps", "-2", "2", "-iaug", "0.7", "-xk", "3"],
        ]
        .concat(),
    ));
    assert_eq!(
        (v["world_size"].as_u64(), v["steps"].as_u64()),
        (Some(2), Some(3))
    );
    let w = weights(&checkpoint_of(&v));
    assert!(w.iter().any(|(n, _)| n.contains("experts.3.gate")));
    for (n, t) in &w {
        assert!(t.isfinite().all().int64_value(&[]) == 1, "{n}");
    }
}

#[test]
fn bad_launch_variables_are_named() {
    let home = Home::new();
    let out = home
        .cmd(&["train", "x", "--model", "demo"])
        .env("WORLD_SIZE", "2")
        .env("RANK", "5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RANK=5"), "{err}");
    let out = Command::new(common::amt_bin())
        .args(["launch", "--nproc", "2", "--", "launch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// `-sb 1`: the Perceiver-TF's BatchNorm normalises over all ranks' rows, with exact
/// gradients, so 2 ranks x 2 rows train as 1 rank x 4 rows (weights, running statistics
/// included); without it each rank normalises its own rows and the weights differ.
#[test]
fn synchronised_batchnorm_makes_two_ranks_train_as_one() {
    let home = Home::new();
    tiny_dataset(&home);
    let base = [
        &[
            "-vit",
            "1000",
            "--val-max-num-files",
            "1",
            "-edr",
            "0",
            "-ddr",
            "0",
        ][..],
        TINY_MOE_MULTI,
    ]
    .concat();
    let with = |extra: &[&'static str]| [base.clone(), extra.to_vec()].concat();
    let one = json_of(&tiny_train(
        &home,
        "sb-one",
        3,
        &with(&["-bsz", "4", "-sb", "1"]),
    ));
    let two = json_of(&launch(&home, 2, "sb-two", 3, &with(&["-sb", "1"])));
    assert_eq!(two["world_size"], 2);
    let d = max_diff(&checkpoint_of(&one), &checkpoint_of(&two));
    assert!(
        d < SAME,
        "2 x 2 rows vs 1 x 4 rows with -sb 1: weights differ by {d}"
    );
    let plain = json_of(&launch(&home, 2, "sb-off", 3, &base));
    let d_off = max_diff(&checkpoint_of(&one), &checkpoint_of(&plain));
    assert!(
        d_off > 100.0 * SAME,
        "per-rank BatchNorm should differ from the global batch's: {d_off}"
    );
}
