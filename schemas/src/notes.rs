//! `notes`: one row per note of a track (per stem where the dataset has stems), as the `notes`
//! stage read it from the dataset's MIDI or annotation files. Times in seconds.
//!
//! A track's notes for training are the notes of all its stems mixed with YourMT3's
//! `mix_notes` (which trims overlapping same-program notes across stems).

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, UInt8Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub const NAME: &str = "notes";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("track_id", DataType::Utf8, false),
        // The stem the note belongs to (Slakh `S00`...); null for datasets without stems.
        Field::new("stem_id", DataType::Utf8, true),
        // 0-127 GM program, 128 drums, 129 unannotated.
        Field::new("program", DataType::UInt8, false),
        Field::new("is_drum", DataType::Boolean, false),
        Field::new("onset", DataType::Float64, false),
        Field::new("offset", DataType::Float64, false),
        Field::new("pitch", DataType::UInt8, false),
        Field::new("velocity", DataType::UInt8, false),
    ]))
});

pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row of `notes`.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteRow<'a> {
    pub dataset: &'a str,
    pub track_id: &'a str,
    pub stem_id: Option<&'a str>,
    pub program: u8,
    pub is_drum: bool,
    pub onset: f64,
    pub offset: f64,
    pub pitch: u8,
    pub velocity: u8,
}

#[derive(Default)]
pub struct NotesBuilder {
    dataset: StringBuilder,
    track_id: StringBuilder,
    stem_id: StringBuilder,
    program: UInt8Builder,
    is_drum: BooleanBuilder,
    onset: Float64Builder,
    offset: Float64Builder,
    pitch: UInt8Builder,
    velocity: UInt8Builder,
}

impl NotesBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, row: &NoteRow<'_>) {
        self.dataset.append_value(row.dataset);
        self.track_id.append_value(row.track_id);
        self.stem_id.append_option(row.stem_id);
        self.program.append_value(row.program);
        self.is_drum.append_value(row.is_drum);
        self.onset.append_value(row.onset);
        self.offset.append_value(row.offset);
        self.pitch.append_value(row.pitch);
        self.velocity.append_value(row.velocity);
    }

    pub fn len(&self) -> usize {
        arrow::array::ArrayBuilder::len(&self.pitch)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn finish(mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.dataset.finish()),
            Arc::new(self.track_id.finish()),
            Arc::new(self.stem_id.finish()),
            Arc::new(self.program.finish()),
            Arc::new(self.is_drum.finish()),
            Arc::new(self.onset.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.pitch.finish()),
            Arc::new(self.velocity.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("notes columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_rows_match_schema() {
        let mut b = NotesBuilder::new();
        b.push(&NoteRow {
            dataset: "d",
            track_id: "t",
            stem_id: None,
            program: 0,
            is_drum: false,
            onset: 0.5,
            offset: 1.0,
            pitch: 60,
            velocity: 1,
        });
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema());
        assert!(batch.column(2).is_null(0));
    }
}
