//! `amt launch`: starts the ranks of a data-parallel job on this machine, as torchrun does,
//! and watches them. A rank that fails makes the launcher wait `--grace` seconds for the others
//! to stop by themselves (they notice the lost peer and name it), then kill what is left.

use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{Cli, LaunchArgs, LogFormat, with_hint};

/// A free TCP port on this machine (for a one-machine job's rendezvous).
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The global options every rank gets (so that all ranks see the same store and config).
fn global_args(cli: &Cli, quiet: bool) -> Vec<String> {
    let mut out = Vec::new();
    let path = |flag: &str, p: &Option<std::path::PathBuf>, out: &mut Vec<String>| {
        if let Some(p) = p {
            let abs = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            out.push(flag.to_string());
            out.push(abs.display().to_string());
        }
    };
    path("--data-home", &cli.data_home, &mut out);
    path("--store", &cli.store, &mut out);
    path("--config", &cli.config, &mut out);
    if quiet {
        out.push("--quiet".into());
    }
    for _ in 0..cli.verbose {
        out.push("-v".into());
    }
    if cli.log_format == LogFormat::Json {
        out.extend(["--log-format".into(), "json".into()]);
    }
    out
}

fn describe(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("was killed by signal {sig}");
        }
    }
    match status.code() {
        Some(c) => format!("exited with status {c}"),
        None => "ended".into(),
    }
}

#[allow(clippy::print_stderr)]
pub fn launch(cli: &Cli, args: &LaunchArgs) -> anyhow::Result<ExitCode> {
    if args.nproc == 0 || args.nnodes == 0 {
        anyhow::bail!("--nproc and --nnodes must be at least 1");
    }
    if args.node_rank >= args.nnodes {
        anyhow::bail!(
            "--node-rank {} is not below --nnodes {}",
            args.node_rank,
            args.nnodes
        );
    }
    if args.command.first().is_some_and(|c| c == "launch") {
        anyhow::bail!("`amt launch -- launch ...` would start launchers, not ranks");
    }
    let port = match args.master_port {
        Some(p) => p,
        None if args.nnodes == 1 => free_port()?,
        None => {
            return Err(with_hint(
                anyhow::anyhow!("a job of {} machines needs --master-port", args.nnodes),
                "give every machine the same --master-addr and --master-port (e.g. 29500)",
            ));
        }
    };
    let exe = std::env::current_exe()?;
    let world = args.nproc * args.nnodes;
    let mut children: Vec<(usize, Child)> = Vec::new();
    for local in 0..args.nproc {
        let rank = args.node_rank * args.nproc + local;
        let mut cmd = Command::new(&exe);
        cmd.args(global_args(cli, cli.quiet || rank != 0))
            .args(&args.command)
            .env("RANK", rank.to_string())
            .env("LOCAL_RANK", local.to_string())
            .env("WORLD_SIZE", world.to_string())
            .env("LOCAL_WORLD_SIZE", args.nproc.to_string())
            .env("GROUP_RANK", args.node_rank.to_string())
            .env("MASTER_ADDR", &args.master_addr)
            .env("MASTER_PORT", port.to_string());
        if rank != 0 {
            // Rank 0 reports; the others' results would only repeat it.
            cmd.stdout(Stdio::null());
        }
        match cmd.spawn() {
            Ok(child) => children.push((rank, child)),
            Err(e) => {
                for (_, c) in &mut children {
                    let _ = c.kill();
                    let _ = c.wait();
                }
                anyhow::bail!("could not start rank {rank} ({}): {e}", exe.display());
            }
        }
    }
    let grace = Duration::from_secs_f64(args.grace.max(0.0));
    let mut first_failure: Option<(usize, ExitStatus)> = None;
    let mut failed_at: Option<Instant> = None;
    let mut statuses: Vec<Option<ExitStatus>> = vec![None; children.len()];
    loop {
        for (i, (rank, child)) in children.iter_mut().enumerate() {
            if statuses[i].is_none()
                && let Some(status) = child.try_wait()?
            {
                statuses[i] = Some(status);
                if !status.success() && first_failure.is_none() {
                    first_failure = Some((*rank, status));
                    failed_at = Some(Instant::now());
                }
            }
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if failed_at.is_some_and(|t| t.elapsed() > grace) {
            for (i, (rank, child)) in children.iter_mut().enumerate() {
                if statuses[i].is_none() {
                    eprintln!(
                        "amt launch: rank {rank} did not stop within {:.0} s of the failure; killing it",
                        grace.as_secs_f64()
                    );
                    let _ = child.kill();
                    statuses[i] = Some(child.wait()?);
                }
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    match first_failure {
        None => Ok(ExitCode::SUCCESS),
        Some((rank, status)) => {
            for ((r, _), s) in children.iter().zip(&statuses) {
                if let Some(s) = s.filter(|s| !s.success()) {
                    eprintln!("amt launch: rank {r} {}", describe(s));
                }
            }
            let code = status.code().unwrap_or(1).clamp(1, 255) as u8;
            tracing::debug!("first failure: rank {rank}");
            Ok(ExitCode::from(code))
        }
    }
}
