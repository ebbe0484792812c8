//! `amt cache ls|verify|gc`.

use std::collections::BTreeSet;
use std::process::ExitCode;

use amt_cache::lock::{Mode, StoreLock};

use crate::cli::CacheCommand;
use crate::context::Context;

pub fn cache(ctx: &Context, cmd: &CacheCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CacheCommand::Ls { json } => ls(ctx, *json),
        CacheCommand::Verify => verify(ctx),
        CacheCommand::Gc { dry_run } => gc(ctx, *dry_run),
    }
}

fn current_keys(store: &amt_cache::Store) -> anyhow::Result<BTreeSet<(String, String, String)>> {
    Ok(store
        .refs()?
        .into_iter()
        .map(|(s, d, k)| (s, d, k.to_string()))
        .collect())
}

fn ls(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let _lock = StoreLock::acquire(&ctx.store_root, Mode::Shared, true)?;
    let store = ctx.open_store()?;
    let current = current_keys(&store)?;
    let (artifacts, bad) = store.artifacts()?;
    let mut rows = Vec::new();
    for a in &artifacts {
        let m = &a.manifest;
        let is_current = current.contains(&(m.stage.clone(), m.dataset.clone(), m.key.to_string()));
        let bytes: u64 = m.files.iter().map(|f| f.size).sum();
        rows.push(serde_json::json!({
            "stage": m.stage, "dataset": m.dataset, "key": m.key.to_string(),
            "current": is_current, "files": m.files.len(), "bytes": bytes,
            "rows": m.table_rows(), "created_at": m.created_at, "path": a.dir.display().to_string(),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:10} {:16} {:13} {:>6} {:>12}  created",
            "stage", "dataset", "key", "files", "bytes"
        );
        for (r, a) in rows.iter().zip(&artifacts) {
            println!(
                "{:10} {:16} {}{} {:>6} {:>12}  {}",
                a.manifest.stage,
                a.manifest.dataset,
                a.manifest.key.short(),
                if r["current"] == true { "*" } else { " " },
                a.manifest.files.len(),
                r["bytes"],
                a.manifest.created_at
            );
        }
    }
    for (dir, e) in bad {
        tracing::warn!("unreadable artifact `{}`: {e}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(ctx: &Context) -> anyhow::Result<ExitCode> {
    let _lock = StoreLock::acquire(&ctx.store_root, Mode::Exclusive, true)?;
    let store = ctx.open_store()?;
    let (artifacts, bad) = store.artifacts()?;
    let mut evicted = 0;
    let mut files = 0;
    for a in &artifacts {
        files += a.manifest.files.len();
        let problems = store.verify(a);
        if problems.is_empty() {
            continue;
        }
        for p in &problems {
            println!("corrupt: {}: {}", p.path.display(), p.reason);
        }
        store.evict(&a.dir)?;
        println!(
            "evicted {} {} {} (`amt run` rebuilds it)",
            a.manifest.stage,
            a.manifest.dataset,
            a.manifest.key.short()
        );
        evicted += 1;
    }
    for (dir, e) in &bad {
        println!("corrupt: {}: {e}", dir.display());
        store.evict(dir)?;
        println!("evicted {}", dir.display());
        evicted += 1;
    }
    let leftovers = store.stale_temp_entries()?.len();
    if leftovers > 0 {
        println!(
            "{leftovers} leftover(s) of interrupted runs in tmp/ (removed by the next `amt run` or `amt cache gc`)"
        );
    }
    println!(
        "verified {} artifact(s), {files} file(s): {evicted} corrupt",
        artifacts.len() + bad.len()
    );
    Ok(if evicted == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn gc(ctx: &Context, dry_run: bool) -> anyhow::Result<ExitCode> {
    let _lock = StoreLock::acquire(&ctx.store_root, Mode::Exclusive, true)?;
    let store = ctx.open_store()?;
    let current = current_keys(&store)?;
    let (artifacts, _) = store.artifacts()?;
    let mut freed = 0u64;
    let mut removed = 0;
    for a in artifacts {
        let m = &a.manifest;
        if current.contains(&(m.stage.clone(), m.dataset.clone(), m.key.to_string())) {
            continue;
        }
        let bytes: u64 = m.files.iter().map(|f| f.size).sum();
        println!(
            "{} {} {} {} ({bytes} bytes)",
            if dry_run { "would remove" } else { "removed" },
            m.stage,
            m.dataset,
            m.key.short()
        );
        if !dry_run {
            store.evict(&a.dir)?;
        }
        freed += bytes;
        removed += 1;
    }
    let leftovers = store.stale_temp_entries()?.len();
    if !dry_run {
        store.clean_tmp()?;
    }
    println!(
        "{} {removed} artifact(s), {freed} bytes, and {leftovers} leftover(s) of interrupted runs",
        if dry_run { "would remove" } else { "removed" }
    );
    Ok(ExitCode::SUCCESS)
}
