//! `tracks`: one row per track the `notes` stage published (quarantined tracks are in
//! `problems` instead).

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub const NAME: &str = "tracks";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("track_id", DataType::Utf8, false),
        // YourMT3's `duration_sec`: Slakh the longest stem MIDI, MAESTRO the MIDI length + 10 ms,
        // GuitarSet the JAMS `file_metadata.duration`.
        Field::new("duration_s", DataType::Float64, false),
        // Stems whose notes were read (0 for datasets without stems).
        Field::new("n_stems", DataType::UInt32, false),
        // Rows of `notes` for this track.
        Field::new("n_notes", DataType::UInt64, false),
        // The file that defines the track (Slakh `metadata.yaml`, MAESTRO MIDI, GuitarSet
        // JAMS), relative to the dataset folder.
        Field::new("source", DataType::Utf8, false),
    ]))
});

pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row of `tracks`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRow<'a> {
    pub dataset: &'a str,
    pub track_id: &'a str,
    pub duration_s: f64,
    pub n_stems: u32,
    pub n_notes: u64,
    pub source: &'a str,
}

#[derive(Default)]
pub struct TracksBuilder {
    dataset: StringBuilder,
    track_id: StringBuilder,
    duration_s: Float64Builder,
    n_stems: UInt32Builder,
    n_notes: UInt64Builder,
    source: StringBuilder,
}

impl TracksBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, row: &TrackRow<'_>) {
        self.dataset.append_value(row.dataset);
        self.track_id.append_value(row.track_id);
        self.duration_s.append_value(row.duration_s);
        self.n_stems.append_value(row.n_stems);
        self.n_notes.append_value(row.n_notes);
        self.source.append_value(row.source);
    }

    pub fn len(&self) -> usize {
        arrow::array::ArrayBuilder::len(&self.n_notes)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dataset.finish()),
            Arc::new(self.track_id.finish()),
            Arc::new(self.duration_s.finish()),
            Arc::new(self.n_stems.finish()),
            Arc::new(self.n_notes.finish()),
            Arc::new(self.source.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("tracks columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rows_match_schema() {
        let mut b = TracksBuilder::new();
        b.push(&TrackRow {
            dataset: "d",
            track_id: "Track00001",
            duration_s: 1.5,
            n_stems: 2,
            n_notes: 10,
            source: "Track00001/metadata.yaml",
        });
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema());
    }
}
