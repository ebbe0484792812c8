//! SQL over published Parquet artifacts. This is the only crate that builds DataFusion, so the
//! other crates compile and test without waiting for it.
//!
//! SQL in amt is read-only: only queries (`SELECT`, `WITH`, `VALUES`, `EXPLAIN`, `SHOW`,
//! `DESCRIBE`) run; `COPY`, `CREATE`, `INSERT`, `DROP`, `SET` and every other statement are
//! refused before anything is planned (and DataFusion's own DDL/DML/statement switches are off
//! as a second guard). Results stream: batches reach the caller as they are produced, the
//! query stops at once when the cancel flag is set, and planning runs on threads with a large
//! stack so that deep generated expressions plan instead of overflowing it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use futures::StreamExt;

pub mod render;

pub use render::{Format, Renderer};

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
    /// The user's query is wrong (syntax, unknown table or column): the message says which.
    #[error("{0}")]
    Query(String),
    #[error(
        "`amt sql` is read-only: {0} statements are not allowed (only queries: SELECT, WITH, VALUES, EXPLAIN, SHOW, DESCRIBE)"
    )]
    NotAQuery(String),
    #[error("the query is too deeply nested to plan ({0}); split it into smaller queries")]
    TooDeep(String),
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
    #[error("could not write the result: {0}")]
    Output(#[from] std::io::Error),
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The reader of the output went away (`amt sql ... | head`).
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            Error::Output(e) => Some(e),
            Error::Format(arrow::error::ArrowError::IoError(_, e)) => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(self, Error::Format(e) if e.to_string().contains("Broken pipe"))
    }
}

/// Stack of the threads that parse, plan and run a query: deep expression trees recurse deeply
/// in DataFusion's planner (an OR chain of 500 terms overflowed 8 MiB in a debug build).
const STACK_BYTES: usize = 256 << 20;

/// Refuses anything that is not a query, naming the statement.
pub fn check_read_only(sql: &str) -> Result<()> {
    let statements = DFParser::parse_sql(sql).map_err(|e| Error::Query(sentence(e.to_string())))?;
    if statements.is_empty() {
        return Err(Error::Query("no SQL statement given".into()));
    }
    for s in &statements {
        let allowed = match s {
            DfStatement::Statement(inner) => matches!(
                inner.as_ref(),
                Statement::Query(_)
                    | Statement::Explain { .. }
                    | Statement::ExplainTable { .. }
                    | Statement::ShowTables { .. }
                    | Statement::ShowColumns { .. }
            ),
            DfStatement::Explain(_) => true,
            _ => false,
        };
        if !allowed {
            let text = s.to_string();
            let word = text
                .split_whitespace()
                .next()
                .unwrap_or("this")
                .to_uppercase();
            return Err(Error::NotAQuery(format!("`{word}`")));
        }
    }
    if statements.len() > 1 {
        return Err(Error::Query(
            "give one statement at a time (found several separated by `;`)".into(),
        ));
    }
    Ok(())
}

/// Runs one read-only statement over `tables`, handing each result batch to `sink` as it is
/// produced. `sink` returns `Ok(false)` to stop early (a row cap). Returns the result schema.
/// When `cancel` is set the query stops at once with [`Error::Interrupted`].
pub fn query_stream(
    tables: &[TableSource],
    sql: &str,
    cancel: &AtomicBool,
    sink: &mut (dyn FnMut(&RecordBatch) -> Result<bool> + Send),
) -> Result<SchemaRef> {
    check_read_only(sql)?;
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("amt-sql".into())
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || run(tables, sql, cancel, sink))
            .map_err(|e| Error::Runtime(e.to_string()))?
            .join()
            .map_err(|_| Error::Runtime("the query thread panicked".into()))?
    })
}

/// Runs one statement and collects its result (tests and small internal queries).
pub fn query(tables: &[TableSource], sql: &str) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    let cancel = AtomicBool::new(false);
    let schema = query_stream(tables, sql, &cancel, &mut |b| {
        out.push(b.clone());
        Ok(true)
    })?;
    if out.is_empty() {
        out.push(RecordBatch::new_empty(schema));
    }
    Ok(out)
}

fn run(
    tables: &[TableSource],
    sql: &str,
    cancel: &AtomicBool,
    sink: &mut (dyn FnMut(&RecordBatch) -> Result<bool> + Send),
) -> Result<SchemaRef> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_stack_size(STACK_BYTES)
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
        let options = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let df = ctx
            .sql_with_options(sql, options)
            .await
            .map_err(query_error)?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let mut stream = df.execute_stream().await.map_err(query_error)?;
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = cancelled(cancel) => return Err(Error::Interrupted),
            };
            match next {
                None => break,
                Some(Err(e)) => return Err(query_error(e)),
                Some(Ok(batch)) => {
                    if batch.num_rows() > 0 && !sink(&batch)? {
                        break;
                    }
                }
            }
        }
        Ok(schema)
    })
}

async fn cancelled(cancel: &AtomicBool) {
    while !cancel.load(Ordering::Relaxed) {
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

fn query_error(e: datafusion::error::DataFusionError) -> Error {
    let msg = e.to_string();
    if msg.contains("recursion limit") || msg.contains("Recursion limit") {
        return Error::TooDeep(sentence(msg));
    }
    Error::Query(sentence(msg))
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

/// DataFusion and sqlparser messages, as sentences: their category prefixes and debug
/// wrappers (`ParserError("...")`) removed.
fn sentence(msg: String) -> String {
    let mut m = msg.as_str();
    for prefix in [
        "SQL error: ",
        "Error during planning: ",
        "Optimizer rule ",
        "External error: ",
    ] {
        m = m.trim_start_matches(prefix);
    }
    let m = m.trim();
    for wrapper in [
        "ParserError(\"",
        "TokenizerError(\"",
        "RecursionLimitExceeded",
    ] {
        if let Some(inner) = m.strip_prefix(wrapper) {
            let inner = inner.trim_end_matches("\")");
            if wrapper == "RecursionLimitExceeded" {
                return "the query is nested too deeply (parser recursion limit)".into();
            }
            return format!("syntax error: {}", inner.replace("\\\"", "\""));
        }
    }
    m.to_string()
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

    fn render(batches: &[RecordBatch], format: Format) -> String {
        let mut out = Vec::new();
        let mut r = Renderer::new(format, &mut out, usize::MAX);
        r.start(&batches[0].schema()).unwrap();
        for b in batches {
            r.batch(b).unwrap();
        }
        r.finish().unwrap();
        String::from_utf8(out).unwrap()
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
        assert_eq!(render(&out, Format::Csv), "dataset,n,s\na,2,1\nb,3,3\n");
        let json = render(&out, Format::Json);
        assert!(
            json.starts_with(r#"[{"dataset":"a","n":2,"s":1}"#),
            "{json}"
        );
    }

    fn empty_files() -> Vec<TableSource> {
        vec![TableSource {
            name: "files".into(),
            schema: files::schema(),
            files: vec![],
        }]
    }

    #[test]
    fn empty_table_and_bad_query() {
        let tables = empty_files();
        let out = query(&tables, "SELECT count(*) AS n FROM files").unwrap();
        assert_eq!(render(&out, Format::Csv), "n\n0\n");
        let err = query(&tables, "SELECT nope FROM files").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = query(&tables, "SELEC 1").unwrap_err().to_string();
        assert!(
            !err.contains("ParserError("),
            "a sentence, not a debug string: {err}"
        );
    }

    #[test]
    fn only_queries_run() {
        let tables = empty_files();
        for (sql, word) in [
            ("COPY (SELECT 1) TO '/tmp/x.parquet'", "COPY"),
            ("CREATE TABLE t AS SELECT 1", "CREATE"),
            ("INSERT INTO files VALUES ('a')", "INSERT"),
            ("DROP TABLE files", "DROP"),
            ("SET datafusion.execution.batch_size = 1", "SET"),
        ] {
            let err = query(&tables, sql).unwrap_err();
            assert!(matches!(err, Error::NotAQuery(_)), "{sql}: {err}");
            assert!(err.to_string().contains(word), "{sql}: {err}");
        }
        for sql in [
            "SELECT 1",
            "WITH a AS (SELECT 1 AS x) SELECT * FROM a",
            "EXPLAIN SELECT 1",
            "SHOW TABLES",
            "VALUES (1)",
        ] {
            query(&tables, sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    #[test]
    fn deep_generated_queries_plan() {
        let tables = empty_files();
        let ors: Vec<String> = (0..500).map(|i| format!("size = {i}")).collect();
        let sql = format!("SELECT count(*) AS n FROM files WHERE {}", ors.join(" OR "));
        let out = query(&tables, &sql);
        assert!(
            out.is_ok() || matches!(out, Err(Error::TooDeep(_))),
            "{out:?}"
        );
        let sum: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        let out = query(&tables, &format!("SELECT {} AS s", sum.join(" + ")));
        assert!(
            out.is_ok() || matches!(out, Err(Error::TooDeep(_))),
            "{out:?}"
        );
    }

    #[test]
    fn a_set_cancel_flag_stops_the_query() {
        let tables = empty_files();
        let cancel = AtomicBool::new(true);
        let err = query_stream(
            &tables,
            "SELECT count(*) FROM generate_series(1, 100000000000)",
            &cancel,
            &mut |_| Ok(true),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Interrupted), "{err}");
    }
}
