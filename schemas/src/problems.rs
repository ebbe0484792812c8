//! `problems`: inputs a stage could not use (a corrupt file, a broken MIDI), with the reason.
//! A problem quarantines one input; the stage still publishes everything else.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub const NAME: &str = "problems";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("stage", DataType::Utf8, false),
        Field::new("path", DataType::Utf8, false),
        Field::new("error", DataType::Utf8, false),
    ]))
});

pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProblemRow<'a> {
    pub dataset: &'a str,
    pub stage: &'a str,
    pub path: &'a str,
    pub error: &'a str,
}

#[derive(Default)]
pub struct ProblemsBuilder {
    dataset: StringBuilder,
    stage: StringBuilder,
    path: StringBuilder,
    error: StringBuilder,
    rows: usize,
}

impl ProblemsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, row: &ProblemRow<'_>) {
        self.dataset.append_value(row.dataset);
        self.stage.append_value(row.stage);
        self.path.append_value(row.path);
        self.error.append_value(row.error);
        self.rows += 1;
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dataset.finish()),
            Arc::new(self.stage.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.error.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("problems columns match the schema")
    }
}
