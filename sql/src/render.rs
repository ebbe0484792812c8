//! Result rendering, batch by batch: CSV and JSON stream row by row whatever the size; the
//! aligned table needs every row to size its columns, so it shows at most a capped number of
//! rows and says so. Every format prints the header of an empty result.

use std::io::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::Result;

/// Output formats of `amt sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Rows the table format shows before it stops with a note.
pub const TABLE_ROWS: usize = 10_000;

/// Writes a result to `out` as batches arrive.
pub struct Renderer<'w> {
    format: Format,
    out: &'w mut (dyn Write + Send),
    schema: Option<SchemaRef>,
    /// Table format: the rows kept so far, and the cap.
    kept: Vec<RecordBatch>,
    kept_rows: usize,
    cap: usize,
    truncated: bool,
    json_rows: u64,
}

impl<'w> Renderer<'w> {
    /// `cap`: rows the table format keeps (see [`TABLE_ROWS`]).
    pub fn new(format: Format, out: &'w mut (dyn Write + Send), cap: usize) -> Renderer<'w> {
        Renderer {
            format,
            out,
            schema: None,
            kept: Vec::new(),
            kept_rows: 0,
            cap,
            truncated: false,
            json_rows: 0,
        }
    }

    /// Called once with the result's schema, before any batch.
    pub fn start(&mut self, schema: &SchemaRef) -> Result<()> {
        self.schema = Some(schema.clone());
        match self.format {
            Format::Csv => {
                let names: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|f| csv_field(f.name()))
                    .collect();
                writeln!(self.out, "{}", names.join(","))?;
            }
            Format::Json => write!(self.out, "[")?,
            Format::Table => {}
        }
        Ok(())
    }

    /// One batch; `Ok(false)` when the renderer wants no more (the table cap is reached).
    pub fn batch(&mut self, batch: &RecordBatch) -> Result<bool> {
        match self.format {
            Format::Csv => {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .build(&mut self.out);
                w.write(batch)?;
                Ok(true)
            }
            Format::Json => {
                let mut buf = Vec::new();
                {
                    let mut w = arrow::json::LineDelimitedWriter::new(&mut buf);
                    w.write(batch)?;
                    w.finish()?;
                }
                for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    if self.json_rows > 0 {
                        self.out.write_all(b",")?;
                    }
                    self.out.write_all(line)?;
                    self.json_rows += 1;
                }
                Ok(true)
            }
            Format::Table => {
                let room = self.cap - self.kept_rows;
                if batch.num_rows() > room {
                    self.kept.push(escape_newlines(&batch.slice(0, room))?);
                    self.kept_rows += room;
                    self.truncated = true;
                    return Ok(false);
                }
                self.kept.push(escape_newlines(batch)?);
                self.kept_rows += batch.num_rows();
                Ok(self.kept_rows < self.cap || self.cap == usize::MAX)
            }
        }
    }

    /// Ends the output (the table is printed here).
    pub fn finish(&mut self) -> Result<()> {
        match self.format {
            Format::Csv => {}
            Format::Json => writeln!(self.out, "]")?,
            Format::Table => {
                if self.kept.is_empty()
                    && let Some(s) = &self.schema
                {
                    self.kept.push(RecordBatch::new_empty(s.clone()));
                }
                let text = arrow::util::pretty::pretty_format_batches(&self.kept)?;
                writeln!(self.out, "{text}")?;
                if self.truncated {
                    writeln!(
                        self.out,
                        "(showing the first {} rows; add LIMIT, or use `--format csv` or `--format json` for every row)",
                        self.cap
                    )?;
                }
            }
        }
        self.out.flush()?;
        Ok(())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Text columns with `\n` and `\r` written as escapes, so that a table row stays one line.
fn escape_newlines(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut changed = false;
    for col in batch.columns() {
        if col.data_type() == &DataType::Utf8
            && let Some(s) = col.as_any().downcast_ref::<StringArray>()
            && s.iter().flatten().any(|v| v.contains(['\n', '\r']))
        {
            let escaped: StringArray = s
                .iter()
                .map(|v| v.map(|v| v.replace('\n', "\\n").replace('\r', "\\r")))
                .collect();
            columns.push(Arc::new(escaped));
            changed = true;
        } else {
            columns.push(col.clone());
        }
    }
    if !changed {
        return Ok(batch.clone());
    }
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, Schema};

    fn batch(values: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(values.to_vec()))]).unwrap()
    }

    fn render(format: Format, batches: &[RecordBatch], cap: usize) -> String {
        let mut out = Vec::new();
        let mut r = Renderer::new(format, &mut out, cap);
        r.start(&batches[0].schema()).unwrap();
        for b in batches {
            if !r.batch(b).unwrap() {
                break;
            }
        }
        r.finish().unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_empty_result_has_a_header_in_every_format() {
        let empty = batch(&[]).slice(0, 0);
        assert_eq!(render(Format::Csv, std::slice::from_ref(&empty), 10), "v\n");
        assert_eq!(
            render(Format::Json, std::slice::from_ref(&empty), 10),
            "[]\n"
        );
        let table = render(Format::Table, &[empty], 10);
        assert!(table.contains("| v |"), "{table}");
    }

    #[test]
    fn newlines_are_escaped_and_the_table_is_capped() {
        let b = batch(&["a\nb", "c"]);
        let table = render(Format::Table, std::slice::from_ref(&b), 10);
        assert!(
            table.contains("a\\nb") && table.lines().count() == 6,
            "{table}"
        );
        assert_eq!(
            render(Format::Csv, std::slice::from_ref(&b), 10),
            "v\n\"a\nb\"\nc\n"
        );
        let capped = render(Format::Table, &[b.clone(), b], 3);
        assert!(capped.contains("showing the first 3 rows"), "{capped}");
        assert_eq!(capped.matches("| c ").count(), 1, "{capped}");
    }
}
