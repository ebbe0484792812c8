//! `amt tables` and `amt sql`: the published Parquet tables, one per schema, spanning datasets.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use amt_sql::{Format, Renderer, TableSource};

use crate::cli::{SqlArgs, SqlFormat, TablesArgs, with_hint};
use crate::context::Context;

/// Per table: (rows, number of artifacts holding it).
type TableStats = BTreeMap<String, (u64, usize)>;

/// Every known table with the current artifacts' Parquet files, the artifacts pinned (so that a
/// `gc` meanwhile keeps them) and their damage. Readers take no lock: a damaged ref or
/// manifest is skipped with a warning naming it, and affects only its own stage and slot.
fn sources(
    ctx: &Context,
) -> anyhow::Result<(Vec<TableSource>, TableStats, Option<amt_cache::PinGuard>)> {
    let store = ctx.open_store()?;
    let (artifacts, damaged) = store.current()?;
    for d in &damaged {
        tracing::warn!(
            "skipping `{}` of `{}`: {} (`amt cache verify` reports it, `amt run` rebuilds it)",
            d.stage,
            d.slot,
            d.reason
        );
    }
    let pins: Vec<amt_cache::Pin> = artifacts
        .iter()
        .map(|a| amt_cache::Pin {
            stage: a.manifest.stage.clone(),
            slot: a.manifest.slot.clone(),
            key: a.manifest.key.clone(),
        })
        .collect();
    let guard = if pins.is_empty() {
        None
    } else {
        Some(store.pin(&pins)?)
    };
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stats = TableStats::new();
    for artifact in &artifacts {
        if !artifact.dir.is_dir() {
            tracing::warn!(
                "`{}` of `{}` was removed while being read; run the query again",
                artifact.manifest.stage,
                artifact.manifest.slot
            );
            continue;
        }
        for f in &artifact.manifest.files {
            if let Some(t) = &f.table {
                files
                    .entry(t.clone())
                    .or_default()
                    .push(artifact.dir.join(&f.path));
                let s = stats.entry(t.clone()).or_default();
                s.0 += f.rows.unwrap_or(0);
                s.1 += 1;
            }
        }
    }
    // Training runs write their metrics as they go (not artifacts): every part so far.
    for id in store.runs()? {
        for (path, rows) in crate::train::log::metric_parts(&store.run_dir(&id)) {
            files
                .entry(amt_schemas::train_metrics::NAME.to_string())
                .or_default()
                .push(path);
            let s = stats
                .entry(amt_schemas::train_metrics::NAME.to_string())
                .or_default();
            s.0 += rows;
            s.1 += 1;
        }
    }
    let mut out = Vec::new();
    for def in amt_schemas::TABLES {
        out.push(TableSource {
            name: def.name.to_string(),
            schema: (def.schema)(),
            files: files.remove(def.name).unwrap_or_default(),
        });
    }
    for unknown in files.keys() {
        tracing::warn!("table `{unknown}` has no schema in this build of amt; not registered");
    }
    Ok((out, stats, guard))
}

/// Table files of the current artifacts whose bytes differ from their manifest (read only
/// when a query failed on a Parquet file, to name it).
fn damaged_table_files(ctx: &Context) -> Vec<PathBuf> {
    let Ok(store) = ctx.open_store() else {
        return Vec::new();
    };
    let Ok((artifacts, _)) = store.current() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in &artifacts {
        for f in a.manifest.files.iter().filter(|f| f.table.is_some()) {
            let path = a.dir.join(&f.path);
            match amt_cache::store::hash_file(&path) {
                Ok((size, hash)) if size == f.size && hash == f.blake3 => {}
                _ => out.push(path),
            }
        }
    }
    out
}

pub fn tables(ctx: &Context, args: &TablesArgs) -> anyhow::Result<ExitCode> {
    let (sources, stats, _pin) = sources(ctx)?;
    let mut rows = Vec::new();
    for (s, def) in sources.iter().zip(amt_schemas::TABLES) {
        let (n, parts) = stats.get(&s.name).copied().unwrap_or((0, 0));
        let columns: Vec<serde_json::Value> = s
            .schema
            .fields()
            .iter()
            .map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string(), "nullable": f.is_nullable()}))
            .collect();
        rows.push(serde_json::json!({
            "name": s.name, "description": def.description, "rows": n,
            "datasets": parts, "columns": columns,
        }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        println!(
            "{} ({} rows in {} dataset(s)): {}",
            r["name"].as_str().unwrap_or(""),
            r["rows"],
            r["datasets"],
            r["description"].as_str().unwrap_or("")
        );
        for c in r["columns"].as_array().into_iter().flatten() {
            println!(
                "  {:12} {}{}",
                c["name"].as_str().unwrap_or(""),
                c["type"].as_str().unwrap_or(""),
                if c["nullable"] == true {
                    " (nullable)"
                } else {
                    ""
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn sql(ctx: &Context, args: &SqlArgs) -> anyhow::Result<ExitCode> {
    let query = match &args.query {
        Some(q) => q.clone(),
        None => {
            let mut q = String::new();
            std::io::stdin().read_to_string(&mut q)?;
            q
        }
    };
    if query.trim().is_empty() {
        return Err(with_hint(
            anyhow::anyhow!("no SQL given"),
            "pass it as an argument (`amt sql \"SELECT ...\"`) or on stdin",
        ));
    }
    let (sources, _, _pin) = sources(ctx)?;
    let format = match args.format {
        SqlFormat::Table => Format::Table,
        SqlFormat::Csv => Format::Csv,
        SqlFormat::Json => Format::Json,
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout());
    let mut renderer = Renderer::new(format, &mut out, amt_sql::render::TABLE_ROWS);
    let mut started = false;
    let result = amt_sql::query_stream(&sources, &query, &ctx.cancel, &mut |batch| {
        if !started {
            renderer.start(&batch.schema())?;
            started = true;
        }
        renderer.batch(batch)
    });
    let outcome = result.and_then(|schema| {
        if !started {
            renderer.start(&schema)?;
        }
        renderer.finish()
    });
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(amt_sql::Error::Interrupted) => {
            tracing::warn!("interrupted: the query was stopped");
            Ok(ExitCode::from(crate::cli::EXIT_INTERRUPTED))
        }
        // The reader went away (`amt sql ... | head`): end quietly, as Unix tools do.
        Err(e) if e.is_broken_pipe() => Ok(ExitCode::SUCCESS),
        Err(e) => {
            let hint = match &e {
                amt_sql::Error::NotAQuery(_) => {
                    "SQL in amt is read-only: artifacts change only through `amt run`".to_string()
                }
                amt_sql::Error::Query(m) if m.to_lowercase().contains("parquet") => {
                    let damaged = damaged_table_files(ctx);
                    if damaged.is_empty() {
                        "an artifact file may be damaged: `amt cache verify` checks every file and evicts what is corrupt, then `amt run` rebuilds it".to_string()
                    } else {
                        format!(
                            "{} no longer match{} its manifest: `amt cache verify` evicts what is corrupt, then `amt run` rebuilds it",
                            damaged
                                .iter()
                                .map(|p| format!("`{}`", p.display()))
                                .collect::<Vec<_>>()
                                .join(", "),
                            if damaged.len() == 1 { "es" } else { "" }
                        )
                    }
                }
                _ => {
                    let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                    format!(
                        "tables: {}; see their columns with `amt tables`",
                        names.join(", ")
                    )
                }
            };
            Err(with_hint(e, hint))
        }
    }
}
