//! `eval_results` and `eval_means`: scores of `amt eval` runs, one row per (file, metric) and per
//! (run, metric), long format so that runs with different metric sets share one table.
//! A NaN metric (YourMT3's empty-list rule) is stored as NULL.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub const RESULTS: &str = "eval_results";
pub const MEANS: &str = "eval_means";

static RESULTS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("run", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
    ]))
});

static MEANS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("run", DataType::Utf8, false),
        Field::new("metric", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        // Files whose value was not NaN (the macro average's denominator).
        Field::new("n_files", DataType::UInt64, false),
    ]))
});

pub fn results_schema() -> SchemaRef {
    RESULTS_SCHEMA.clone()
}

pub fn means_schema() -> SchemaRef {
    MEANS_SCHEMA.clone()
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

#[derive(Default)]
pub struct ResultsBuilder {
    dataset: StringBuilder,
    run: StringBuilder,
    file: StringBuilder,
    metric: StringBuilder,
    value: Float64Builder,
}

impl ResultsBuilder {
    pub fn push(&mut self, dataset: &str, run: &str, file: &str, metric: &str, value: f64) {
        self.dataset.append_value(dataset);
        self.run.append_value(run);
        self.file.append_value(file);
        self.metric.append_value(metric);
        self.value.append_option(finite(value));
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dataset.finish()),
            Arc::new(self.run.finish()),
            Arc::new(self.file.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.value.finish()),
        ];
        RecordBatch::try_new(results_schema(), columns).expect("eval_results columns match")
    }
}

#[derive(Default)]
pub struct MeansBuilder {
    dataset: StringBuilder,
    run: StringBuilder,
    metric: StringBuilder,
    value: Float64Builder,
    n_files: UInt64Builder,
}

impl MeansBuilder {
    pub fn push(&mut self, dataset: &str, run: &str, metric: &str, value: f64, n_files: u64) {
        self.dataset.append_value(dataset);
        self.run.append_value(run);
        self.metric.append_value(metric);
        self.value.append_option(finite(value));
        self.n_files.append_value(n_files);
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dataset.finish()),
            Arc::new(self.run.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.n_files.finish()),
        ];
        RecordBatch::try_new(means_schema(), columns).expect("eval_means columns match")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_null() {
        let mut b = ResultsBuilder::default();
        b.push("d", "r", "f", "onset_f", f64::NAN);
        b.push("d", "r", "f", "offset_f", 0.5);
        let batch = b.finish();
        assert_eq!(batch.column(4).null_count(), 1);
    }
}
