//! SQL over published Parquet artifacts. This is the only crate that builds DataFusion, so the
//! other crates compile and test without waiting for it.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};

/// One table to register: its declared schema and the Parquet files (one per dataset) that
/// hold its rows. No files gives an empty table, so queries on unbuilt tables still plan.
#[derive(Debug, Clone)]
pub struct TableSource {
    pub name: String,
    pub schema: SchemaRef,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's query is wrong (syntax, unknown table or column): DataFusion's message says
    /// which, and lists candidates.
    #[error("{0}")]
    Query(String),
    #[error("could not register table `{table}` from `{path}`: {reason}")]
    Register {
        table: String,
        path: String,
        reason: String,
    },
    #[error("could not start the query engine: {0}")]
    Runtime(String),
    #[error("could not format the result: {0}")]
    Format(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Output formats of `amt sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Runs one SQL statement over `tables`.
pub fn query(tables: &[TableSource], sql: &str) -> Result<Vec<RecordBatch>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    runtime.block_on(async {
        // Keep declared types (Utf8, not Utf8View) so results match `amt tables`.
        let config = SessionConfig::new()
            .set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            )
            .with_information_schema(true);
        let ctx = SessionContext::new_with_config(config);
        for t in tables {
            register(&ctx, t)?;
        }
        let df = ctx
            .sql(sql)
            .await
            .map_err(|e| Error::Query(clean(e.to_string())))?;
        df.collect()
            .await
            .map_err(|e| Error::Query(clean(e.to_string())))
    })
}

fn register(ctx: &SessionContext, t: &TableSource) -> Result<()> {
    let reg_err = |path: String, reason: String| Error::Register {
        table: t.name.clone(),
        path,
        reason,
    };
    if t.files.is_empty() {
        let mem = MemTable::try_new(t.schema.clone(), vec![vec![]])
            .map_err(|e| reg_err(String::new(), e.to_string()))?;
        ctx.register_table(t.name.as_str(), Arc::new(mem))
            .map_err(|e| reg_err(String::new(), e.to_string()))?;
        return Ok(());
    }
    let mut urls = Vec::with_capacity(t.files.len());
    for f in &t.files {
        let s = f.display().to_string();
        urls.push(ListingTableUrl::parse(&s).map_err(|e| reg_err(s.clone(), e.to_string()))?);
    }
    let options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(t.schema.clone());
    let table = ListingTable::try_new(config).map_err(|e| reg_err(String::new(), e.to_string()))?;
    ctx.register_table(t.name.as_str(), Arc::new(table))
        .map_err(|e| reg_err(String::new(), e.to_string()))?;
    Ok(())
}

/// DataFusion prefixes plan errors with its own category names; users need the message.
fn clean(msg: String) -> String {
    msg.trim_start_matches("SQL error: ")
        .trim_start_matches("Error during planning: ")
        .to_string()
}

/// Renders batches as an aligned table, CSV (with header) or a JSON array of objects.
pub fn render(batches: &[RecordBatch], format: Format) -> Result<String> {
    match format {
        Format::Table => Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string()),
        Format::Csv => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                for b in batches {
                    w.write(b)?;
                }
            }
            Ok(String::from_utf8_lossy(&buf).into_owned())
        }
        Format::Json => {
            let mut buf = Vec::new();
            {
                let mut w = arrow::json::ArrayWriter::new(&mut buf);
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                w.write_batches(&refs)?;
                w.finish()?;
            }
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
            Ok(String::from_utf8_lossy(&buf).into_owned() + "\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amt_schemas::files::{self, FileRow, FilesBuilder};

    fn write(dir: &std::path::Path, name: &str, dataset: &str, n: usize) -> PathBuf {
        let mut b = FilesBuilder::new();
        for i in 0..n {
            let path = format!("f{i}");
            b.push(&FileRow {
                dataset,
                path: &path,
                size: i as u64,
                blake3: "00",
                mtime: 0,
            });
        }
        let path = dir.join(name);
        let file = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(file, files::schema(), None).unwrap();
        w.write(&b.finish()).unwrap();
        w.close().unwrap();
        path
    }

    #[test]
    fn one_table_spans_datasets() {
        let dir = tempfile::tempdir().unwrap();
        let a = write(dir.path(), "a.parquet", "a", 2);
        let b = write(dir.path(), "b.parquet", "b", 3);
        let tables = vec![TableSource {
            name: "files".into(),
            schema: files::schema(),
            files: vec![a, b],
        }];
        let out = query(
            &tables,
            "SELECT dataset, count(*) AS n, sum(size) AS s FROM files GROUP BY dataset ORDER BY dataset",
        )
        .unwrap();
        let csv = render(&out, Format::Csv).unwrap();
        assert_eq!(csv, "dataset,n,s\na,2,1\nb,3,3\n");
        let json = render(&out, Format::Json).unwrap();
        assert!(
            json.starts_with(r#"[{"dataset":"a","n":2,"s":1}"#),
            "{json}"
        );
    }

    #[test]
    fn empty_table_and_bad_query() {
        let tables = vec![TableSource {
            name: "files".into(),
            schema: files::schema(),
            files: vec![],
        }];
        let out = query(&tables, "SELECT count(*) AS n FROM files").unwrap();
        assert_eq!(render(&out, Format::Csv).unwrap(), "n\n0\n");
        let err = query(&tables, "SELECT nope FROM files").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = query(&tables, "SELEC 1").unwrap_err();
        assert!(matches!(err, Error::Query(_)));
    }
}
