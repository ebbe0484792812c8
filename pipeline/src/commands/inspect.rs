//! `amt tables` and `amt sql`: the published Parquet tables, one per schema, spanning datasets.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use amt_cache::lock::Mode;
use amt_sql::{Format, TableSource};

use crate::cli::{SqlArgs, SqlFormat, TablesArgs, with_hint};
use crate::context::Context;

/// Per table: (rows, number of artifacts holding it).
type TableStats = BTreeMap<String, (u64, usize)>;

/// Every known table with the current artifacts' Parquet files.
fn sources(ctx: &Context) -> anyhow::Result<(Vec<TableSource>, TableStats)> {
    let store = ctx.open_store()?;
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut stats = TableStats::new();
    for artifact in store.current()? {
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
    Ok((out, stats))
}

pub fn tables(ctx: &Context, args: &TablesArgs) -> anyhow::Result<ExitCode> {
    let _lock = amt_cache::lock::StoreLock::acquire(&ctx.store_root, Mode::Shared, true)?;
    let (sources, stats) = sources(ctx)?;
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
    let _lock = amt_cache::lock::StoreLock::acquire(&ctx.store_root, Mode::Shared, true)?;
    let (sources, _) = sources(ctx)?;
    let batches = amt_sql::query(&sources, &query).map_err(|e| {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        with_hint(
            e,
            format!(
                "tables: {}; see their columns with `amt tables`",
                names.join(", ")
            ),
        )
    })?;
    let format = match args.format {
        SqlFormat::Table => Format::Table,
        SqlFormat::Csv => Format::Csv,
        SqlFormat::Json => Format::Json,
    };
    let text = amt_sql::render(&batches, format)?;
    print!("{text}");
    if format == Format::Table {
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
