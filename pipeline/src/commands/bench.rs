//! `amt bench`: measures the store's hot paths on generated data, in the build you run
//! (debug numbers are pessimistic; `cargo build --release` for the real ones).
//!
//! - `noop`: a no-op `amt run` over a dataset of many small tracks (planning = stat every
//!   file against the memo, derive keys, compare refs), after one cold run.
//! - the cold run of a second dataset of large files gives the fingerprint throughput (MB/s;
//!   the files were just written, so they come from the page cache: hashing, not disk).

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{BenchArgs, DatasetsArg, RunArgs};
use crate::config::Config;
use crate::context::{Context, default_store};
use crate::graph::Graph;

fn run_once(ctx: &Context, dataset: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    let code = super::run(
        ctx,
        &RunArgs {
            until: None,
            datasets: DatasetsArg {
                datasets: vec![dataset.to_string()],
            },
            force: false,
            json: false,
            no_wait: true,
        },
    )?;
    anyhow::ensure!(code == ExitCode::SUCCESS, "the benchmark run failed");
    Ok(t.elapsed().as_secs_f64())
}

pub fn bench(
    args: &BenchArgs,
    cancel: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let data_home = dir.path().to_owned();
    // Many small tracks: mix.wav, all_src.mid, metadata.yaml each.
    for t in 0..args.tracks {
        let track = data_home.join("many").join(format!("Track{t:05}"));
        fs_err::create_dir_all(&track)?;
        for (name, size) in [
            ("mix.wav", 2048usize),
            ("all_src.mid", 512),
            ("metadata.yaml", 256),
        ] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 31 + t * 7) as u8).collect();
            fs_err::write(track.join(name), bytes)?;
        }
    }
    // A few large files for throughput.
    let big = data_home.join("big");
    fs_err::create_dir_all(&big)?;
    let per_file = 16usize << 20;
    let n_big = (args.megabytes << 20).div_ceil(per_file).max(1);
    let mut chunk = vec![0u8; per_file];
    for i in 0..n_big {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (j as u64)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i as u64) as u8;
        }
        fs_err::write(big.join(format!("part{i:03}.bin")), &chunk)?;
    }
    let ctx = Context {
        store_root: default_store(&data_home),
        data_home: data_home.clone(),
        config: Config::default(),
        graph: Graph::product(),
        quiet: true,
        cancel,
    };
    let files = args.tracks * 3;
    let cold_small = run_once(&ctx, "many")?;
    let mut noop: Vec<f64> = Vec::new();
    for _ in 0..args.repeat {
        noop.push(run_once(&ctx, "many")?);
    }
    noop.sort_by(f64::total_cmp);
    let cold_big = run_once(&ctx, "big")?;
    let mb = (n_big * per_file) as f64 / 1e6;
    let report = serde_json::json!({
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "tracks": args.tracks,
        "files": files,
        "cold_run_s": cold_small,
        "noop_run_s_median": noop[noop.len() / 2],
        "noop_run_s_min": noop[0],
        "fingerprint_mb": mb,
        "fingerprint_cold_s": cold_big,
        "fingerprint_mb_per_s": mb / cold_big,
        "threads": rayon::current_num_threads(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} build, {} rayon threads",
            report["profile"].as_str().unwrap_or(""),
            report["threads"]
        );
        println!(
            "no-op run, {} tracks ({files} files): median {:.3} s, min {:.3} s over {} runs (cold run {:.3} s)",
            args.tracks,
            noop[noop.len() / 2],
            noop[0],
            args.repeat,
            cold_small
        );
        println!(
            "cold fingerprint of {mb:.0} MB in {n_big} files: {cold_big:.3} s = {:.0} MB/s",
            mb / cold_big
        );
    }
    Ok(ExitCode::SUCCESS)
}
