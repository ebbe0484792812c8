//! `amt doctor`: what amt runs against and anything wrong with the installation or the store.

use std::path::Path;
use std::process::ExitCode;

use amt_cache::lock;

use crate::cli::DoctorArgs;
use crate::context::Context;

/// Free bytes on the file system holding `path` (or its nearest existing parent).
fn free_bytes(path: &Path) -> Option<u64> {
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let out = std::process::Command::new("df")
        .args(["-Pk", "--"])
        .arg(p)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let kb: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kb * 1024)
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

pub fn doctor(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let torch = amt_model::torch_runtime();
    let mut problems: Vec<String> = Vec::new();
    if amt_model::smoke_test() != 14.0 {
        problems.push("libtorch loaded but computed a wrong result".into());
    }
    if !ctx.data_home.is_dir() {
        problems.push(format!(
            "the data home `{}` does not exist yet (set it with --data-home or AMT_DATA_HOME)",
            ctx.data_home.display()
        ));
    }
    let mut writers: Vec<String> = Vec::new();
    if ctx.store_root.is_dir() {
        let store = ctx.open_store()?;
        for (stage, slot, path) in store.slot_locks()? {
            if !lock::is_held(&path) {
                continue;
            }
            let holder = lock::recorded_holder(&path);
            writers.push(match holder {
                Some(pid) => format!("`{stage}` of `{slot}` by pid {pid}"),
                None => format!("`{stage}` of `{slot}`"),
            });
            if let Some(pid) = holder
                && !pid_alive(pid)
            {
                problems.push(format!(
                    "the writer lock of `{stage}` for `{slot}` is held but its recorded holder (pid {pid}) is gone; another process inherited it"
                ));
            }
        }
        let leftovers = store.stale_temp_entries()?.len();
        if leftovers > 0 {
            problems.push(format!(
                "{leftovers} leftover(s) of interrupted runs in `{}`; `amt cache gc` removes them",
                store.root().join("tmp").display()
            ));
        }
        let (_, damaged) = store.current()?;
        for d in damaged {
            problems.push(format!(
                "`{}` of `{}`: {} (`{}`); `amt cache verify` reports it, `amt run` rebuilds it",
                d.stage,
                d.slot,
                d.reason,
                d.path.display()
            ));
        }
    }
    let lock_state = if writers.is_empty() {
        "no writer".to_string()
    } else {
        format!("writing: {}", writers.join(", "))
    };
    let report = serde_json::json!({
        "amt_version": env!("CARGO_PKG_VERSION"),
        "libtorch_version": torch.libtorch_version,
        "libtorch_lib": torch.libtorch_lib,
        "cuda_available": torch.cuda_available,
        "cuda_devices": torch.cuda_devices,
        "cudnn_available": torch.cudnn_available,
        "torch_threads": torch.threads,
        "data_home": ctx.data_home.display().to_string(),
        "data_home_free_bytes": free_bytes(&ctx.data_home),
        "store": ctx.store_root.display().to_string(),
        "store_free_bytes": free_bytes(&ctx.store_root),
        "writers": lock_state,
        "config": ctx.config.path.as_ref().map(|p| p.display().to_string()),
        "stages": ctx.graph.names(),
        "problems": problems,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let gib = |v: &serde_json::Value| {
            v.as_u64()
                .map(|b| format!("{:.1} GiB free", b as f64 / (1u64 << 30) as f64))
                .unwrap_or_else(|| "free space unknown".into())
        };
        println!("amt {}", report["amt_version"].as_str().unwrap_or(""));
        println!(
            "libtorch {} ({})",
            torch.libtorch_version, torch.libtorch_lib
        );
        println!(
            "cuda: {} ({} device(s)), cudnn: {}",
            if torch.cuda_available {
                "available"
            } else {
                "not available"
            },
            torch.cuda_devices,
            torch.cudnn_available
        );
        println!("torch threads: {}", torch.threads);
        println!(
            "data home: {} ({})",
            ctx.data_home.display(),
            gib(&report["data_home_free_bytes"])
        );
        println!(
            "store: {} ({}), {}",
            ctx.store_root.display(),
            gib(&report["store_free_bytes"]),
            report["writers"].as_str().unwrap_or("")
        );
        println!(
            "config: {}",
            report["config"].as_str().unwrap_or("(none: defaults)")
        );
        println!("stages built: {}", ctx.graph.names().join(", "));
        if problems.is_empty() {
            println!("no problems found");
        }
        for p in &problems {
            println!("problem: {p}");
        }
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
