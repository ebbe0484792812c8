//! `files`: one row per file of a dataset's folder, as `extract` found it.

crate::table! {
    /// One row of `files`.
    name: "files", row: FileRow, builder: FilesBuilder,
    columns: {
        dataset: Utf8,
        /// Relative to the dataset folder, `/`-separated.
        path: Utf8,
        size: UInt64,
        /// blake3 of the content, lowercase hex.
        blake3: Utf8,
        /// Modification time, microseconds since the Unix epoch (UTC).
        mtime: TimestampUsUtc,
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
            mtime: 5,
        });
        assert_eq!(b.len(), 1);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema());
        assert_eq!(COLUMNS, ["dataset", "path", "size", "blake3", "mtime"]);
    }
}
