//! `eval_results` and `eval_means`: scores of `amt eval` runs, one row per (file, metric) and per
//! (run, metric), long format so that runs with different metric sets share one table.
//! A NaN metric (YourMT3's empty-list rule) is stored as NULL: see [`finite`].

pub use means::NAME as MEANS;
pub use results::NAME as RESULTS;

/// A metric value as stored: NaN and infinities become NULL.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

pub mod results {
    crate::table! {
        /// One row of `eval_results`.
        name: "eval_results", row: ResultRow, builder: ResultsBuilder,
        columns: {
            dataset: Utf8,
            run: Utf8,
            file: Utf8,
            metric: Utf8,
            /// Null where the metric is NaN.
            value: Float64 | null,
        }
    }
}

pub mod means {
    crate::table! {
        /// One row of `eval_means`.
        name: "eval_means", row: MeanRow, builder: MeansBuilder,
        columns: {
            dataset: Utf8,
            run: Utf8,
            metric: Utf8,
            value: Float64 | null,
            /// Files whose value was not NaN (the macro average's denominator).
            n_files: UInt64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;

    #[test]
    fn nan_is_null() {
        let mut b = results::ResultsBuilder::default();
        for (metric, v) in [("onset_f", f64::NAN), ("offset_f", 0.5)] {
            b.push(&results::ResultRow {
                dataset: "d",
                run: "r",
                file: "f",
                metric,
                value: finite(v),
            });
        }
        let batch = b.finish();
        assert_eq!(batch.column(4).null_count(), 1);
    }
}
