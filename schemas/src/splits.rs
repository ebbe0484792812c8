//! `splits`: the split of every track of a dataset (`train`, `validation`, `test`), from the
//! dataset's official split as its adapter reads it. Shards are joined with it at read time,
//! so one set of shards serves every split.

crate::table! {
    /// One row of `splits`.
    name: "splits", row: SplitRow, builder: SplitsBuilder,
    columns: {
        dataset: Utf8,
        track_id: Utf8,
        split: Utf8,
    }
}
