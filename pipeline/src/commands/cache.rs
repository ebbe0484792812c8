//! `amt cache ls|verify|gc`. None of them blocks readers: `verify` hashes without a lock and
//! evicts under the slot's writer lock; `gc` removes only what no ref, live pin or run names,
//! skipping slots a writer holds.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

use amt_cache::{Artifact, Key, Slot, Store};

use crate::cli::CacheCommand;
use crate::context::Context;

pub fn cache(ctx: &Context, cmd: &CacheCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CacheCommand::Ls { json } => ls(ctx, *json),
        CacheCommand::Verify => verify(ctx),
        CacheCommand::Gc { dry_run } => gc(ctx, *dry_run),
    }
}

type Id = (String, Slot, Key);

fn id_of(a: &Artifact) -> Id {
    (
        a.manifest.stage.clone(),
        a.manifest.slot.clone(),
        a.manifest.key.clone(),
    )
}

fn current_keys(store: &Store) -> anyhow::Result<BTreeSet<Id>> {
    Ok(store
        .refs()?
        .into_iter()
        .filter_map(|r| Some((r.stage, r.slot, r.key.ok()?)))
        .collect())
}

/// Everything `gc` and `verify` must keep: refs, live pins, runs' pins.
fn kept_keys(store: &Store) -> anyhow::Result<BTreeSet<Id>> {
    let mut keep = current_keys(store)?;
    for p in store.all_pins(true)? {
        keep.insert((p.stage, p.slot, p.key));
    }
    Ok(keep)
}

/// (stage, slot) of an artifact folder `artifacts/<stage>/<slot>/<key>`.
fn stage_slot_of(dir: &Path) -> Option<(String, Slot)> {
    let slot = dir.parent()?;
    let stage = slot.parent()?;
    Some((
        stage.file_name()?.to_str()?.to_string(),
        Slot::parse(slot.file_name()?.to_str()?).ok()?,
    ))
}

fn ls(ctx: &Context, json: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let current = current_keys(&store)?;
    let (artifacts, bad) = store.artifacts()?;
    let mut rows = Vec::new();
    for a in &artifacts {
        let m = &a.manifest;
        let is_current = current.contains(&id_of(a));
        let bytes: u64 = m.files.iter().map(|f| f.size).sum();
        rows.push(serde_json::json!({
            "stage": m.stage, "slot": m.slot.to_string(), "key": m.key.to_string(),
            "current": is_current, "files": m.files.len(), "parts": m.parts.len(), "bytes": bytes,
            "rows": m.table_rows(), "created_at": m.created_at, "path": a.dir.display().to_string(),
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:10} {:24} {:13} {:>6} {:>12}  created",
            "stage", "slot", "key", "files", "bytes"
        );
        for (r, a) in rows.iter().zip(&artifacts) {
            println!(
                "{:10} {:24} {}{} {:>6} {:>12}  {}",
                a.manifest.stage,
                a.manifest.slot.to_string(),
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
    let store = ctx.open_store()?;
    let (artifacts, bad) = store.artifacts()?;
    let mut corrupt = 0;
    let mut files = 0;
    for a in &artifacts {
        files += a.manifest.files.len();
        let problems = store.verify(a);
        if problems.is_empty() {
            continue;
        }
        corrupt += 1;
        for p in &problems {
            println!("corrupt: {}: {}", p.path.display(), p.reason);
        }
        evict_unless_pinned(&store, a.manifest.stage.as_str(), &a.manifest.slot, &a.dir)?;
    }
    for (dir, e) in &bad {
        corrupt += 1;
        println!("corrupt: {}: {e}", dir.display());
        match stage_slot_of(dir) {
            Some((stage, slot)) => evict_unless_pinned(&store, &stage, &slot, dir)?,
            None => println!("  (not an artifact folder; left alone)"),
        }
    }
    // Damaged refs: removed, so that `status` shows the pair as missing and `run` rebuilds it.
    for r in store.refs()? {
        if let Err(d) = r.key {
            corrupt += 1;
            println!("corrupt: {}: {}", d.path.display(), d.reason);
            let _lock = store.lock_slot(&r.stage, &r.slot, true)?;
            store.remove_ref(&r.stage, &r.slot)?;
            println!(
                "removed the ref of `{}` for `{}` (`amt run` rebuilds it)",
                r.stage, r.slot
            );
        }
    }
    let downloads = verify_downloads(&store, &artifacts)?;
    corrupt += downloads;
    let leftovers = store.stale_temp_entries()?.len();
    if leftovers > 0 {
        println!(
            "{leftovers} leftover(s) of interrupted runs in tmp/ (removed by the next `amt run` or `amt cache gc`)"
        );
    }
    println!(
        "verified {} artifact(s), {files} file(s): {corrupt} corrupt",
        artifacts.len() + bad.len()
    );
    Ok(if corrupt == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Evicts a corrupt artifact under its slot's writer lock, unless a live reader or a run pins
/// it (then it is only reported: the reader would lose its files).
fn evict_unless_pinned(store: &Store, stage: &str, slot: &Slot, dir: &Path) -> anyhow::Result<()> {
    let key = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|k| Key::try_from(k.to_string()).ok());
    let pinned = key.as_ref().is_some_and(|k| {
        store
            .all_pins(false)
            .unwrap_or_default()
            .iter()
            .any(|p| p.stage == stage && &p.slot == slot && &p.key == k)
    });
    if pinned {
        println!(
            "not evicted: `{stage}` of `{slot}` is pinned by a live reader or a run; run `amt cache verify` again when it is done"
        );
        return Ok(());
    }
    let _lock = store.lock_slot(stage, slot, true)?;
    store.evict(dir)?;
    println!("evicted `{stage}` of `{slot}` (`amt run` rebuilds it)");
    Ok(())
}

/// Kept archives (`<data home>/.amt/downloads`) against the size and blake3 their `download`
/// artifact recorded; a changed one is deleted (the next install downloads it again).
fn verify_downloads(store: &Store, artifacts: &[Artifact]) -> anyhow::Result<usize> {
    let mut corrupt = 0;
    let current = current_keys(store)?;
    for a in artifacts
        .iter()
        .filter(|a| a.manifest.stage == amt_stages::download::NAME && current.contains(&id_of(a)))
    {
        let Ok(record) = amt_stages::download::ArchiveRecord::read(&a.dir) else {
            continue;
        };
        if !record.path.is_file() {
            continue;
        }
        let (size, hash) = amt_cache::store::hash_file(&record.path)?;
        if size == record.size && hash == record.blake3 {
            continue;
        }
        corrupt += 1;
        println!(
            "corrupt: {}: the kept download of `{}` changed since it was verified (expected {} bytes with blake3 {}, found {size} bytes with blake3 {})",
            record.path.display(),
            a.manifest.slot,
            record.size,
            &record.blake3[..12.min(record.blake3.len())],
            &hash[..12]
        );
        fs_err::remove_file(&record.path)?;
        println!("deleted it: the next `amt install` or `amt run` downloads it again");
    }
    Ok(corrupt)
}

fn gc(ctx: &Context, dry_run: bool) -> anyhow::Result<ExitCode> {
    let store = ctx.open_store()?;
    let keep = kept_keys(&store)?;
    let (artifacts, _) = store.artifacts()?;
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut freed = 0u64;
    let mut removed = 0;
    let mut busy = 0;
    for a in artifacts {
        let m = &a.manifest;
        if keep.contains(&id_of(&a)) {
            continue;
        }
        let bytes: u64 = m.files.iter().map(|f| f.size).sum();
        if !dry_run {
            // A writer of this slot may be about to point its ref here: leave its slot alone.
            let lock_path = store.lock_path(&m.stage, &m.slot);
            let Some(_lock) = amt_cache::lock::FileLock::try_exclusive(&lock_path)? else {
                busy += 1;
                continue;
            };
            if kept_keys(&store)?.contains(&id_of(&a)) {
                continue;
            }
            store.evict(&a.dir)?;
        }
        println!(
            "{verb} {} {} {} ({bytes} bytes)",
            m.stage,
            m.slot,
            m.key.short()
        );
        freed += bytes;
        removed += 1;
    }
    let mut parts = 0;
    for (stage, slot, dir, n) in store.part_areas()? {
        let Ok(slot) = Slot::parse(&slot) else {
            continue;
        };
        let lock_path = store.lock_path(&stage, &slot);
        if dry_run {
            if !amt_cache::lock::is_held(&lock_path) {
                println!("{verb} {n} unfinished part(s) of `{stage}` for `{slot}`");
                parts += 1;
            }
            continue;
        }
        let Some(_lock) = amt_cache::lock::FileLock::try_exclusive(&lock_path)? else {
            continue;
        };
        if let Some(key) = dir
            .file_name()
            .and_then(|k| k.to_str())
            .and_then(|k| Key::try_from(k.to_string()).ok())
        {
            store.discard_parts(&stage, &slot, &key)?;
            println!("{verb} {n} unfinished part(s) of `{stage}` for `{slot}`");
            parts += 1;
        }
    }
    let leftovers = store.stale_temp_entries()?.len();
    if !dry_run {
        store.clean_tmp()?;
    }
    println!(
        "{verb} {removed} artifact(s), {freed} bytes, {parts} unfinished build(s), and {leftovers} leftover(s) of interrupted runs"
    );
    if busy > 0 {
        println!(
            "kept {busy} artifact(s) of slots being written now; run `amt cache gc` again later"
        );
    }
    Ok(ExitCode::SUCCESS)
}
