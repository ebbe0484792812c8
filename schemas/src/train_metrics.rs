//! `train_metrics`: what `amt train` logs, one row per (run, step, metric), long format:
//! `train/loss`, `train/lr`, `train/grad_norm`, `train/steps_per_second` every logging step,
//! `validation/loss`, `validation/(<dataset>)<metric>` and `validation/macro_<metric>` at each
//! validation. Written by the run itself under `runs/<id>/metrics/` (not an artifact: it grows
//! while the run trains, and `amt sql` sees every part written so far).

crate::table! {
    /// One row of `train_metrics`.
    name: "train_metrics", row: TrainMetricRow, builder: TrainMetricsBuilder,
    columns: {
        run: Utf8,
        step: Int64,
        metric: Utf8,
        /// Null where the metric is NaN.
        value: Float64 | null,
        /// Wall-clock time the value was logged.
        time: TimestampUsUtc,
    }
}
