//! `splits`: one row per track and list it is in: the dataset's official split (`train`,
//! `validation`, `test`; at most one per track) and YourMT3's named lists (a track may be in
//! many). Shards are joined with it at read time, so one set of shards serves every list.

crate::table! {
    /// One row of `splits`.
    name: "splits", row: SplitRow, builder: SplitsBuilder,
    columns: {
        dataset: Utf8,
        track_id: Utf8,
        split: Utf8,
    }
}
