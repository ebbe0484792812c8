//! `files`: one row per file of a dataset's folder, as `extract` found it.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

pub const NAME: &str = "files";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        // Relative to the dataset folder, `/`-separated.
        Field::new("path", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        // blake3 of the content, lowercase hex.
        Field::new("blake3", DataType::Utf8, false),
        Field::new(
            "mtime",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ]))
});

pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row of `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow<'a> {
    pub dataset: &'a str,
    pub path: &'a str,
    pub size: u64,
    pub blake3: &'a str,
    /// Modification time, microseconds since the Unix epoch.
    pub mtime_us: i64,
}

#[derive(Default)]
pub struct FilesBuilder {
    dataset: StringBuilder,
    path: StringBuilder,
    size: UInt64Builder,
    blake3: StringBuilder,
    mtime: TimestampMicrosecondBuilder,
}

impl FilesBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, row: &FileRow<'_>) {
        self.dataset.append_value(row.dataset);
        self.path.append_value(row.path);
        self.size.append_value(row.size);
        self.blake3.append_value(row.blake3);
        self.mtime.append_value(row.mtime_us);
    }

    pub fn len(&self) -> usize {
        arrow::array::ArrayBuilder::len(&self.size)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dataset.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.size.finish()),
            Arc::new(self.blake3.finish()),
            Arc::new(self.mtime.finish().with_timezone("UTC")),
        ];
        RecordBatch::try_new(schema(), columns).expect("files columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rows_match_schema() {
        let mut b = FilesBuilder::new();
        b.push(&FileRow {
            dataset: "d",
            path: "a/b.wav",
            size: 3,
            blake3: "ab",
            mtime_us: 5,
        });
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema());
    }
}
