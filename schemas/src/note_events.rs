//! `note_events`: the onsets and offsets of each (track, stem)'s notes, sorted as YourMT3 sorts
//! them (time, is_drum, program, velocity, pitch: offsets before onsets at the same time).
//! Drum notes have onsets only. Ties (notes sounding across a segment start) are not stored:
//! they are computed per segment when tokenising.

use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, BooleanBuilder, Float64Builder, StringBuilder, UInt8Builder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

pub const NAME: &str = "note_events";

/// `kind` of an onset event.
pub const ONSET: &str = "onset";
/// `kind` of an offset event.
pub const OFFSET: &str = "offset";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("dataset", DataType::Utf8, false),
        Field::new("track_id", DataType::Utf8, false),
        Field::new("stem_id", DataType::Utf8, true),
        Field::new("program", DataType::UInt8, false),
        Field::new("is_drum", DataType::Boolean, false),
        // Seconds from the start of the track.
        Field::new("time", DataType::Float64, false),
        // `onset` or `offset`.
        Field::new("kind", DataType::Utf8, false),
        // The note's velocity on onsets, 0 on offsets (YourMT3's encoding of the kind).
        Field::new("velocity", DataType::UInt8, false),
        Field::new("pitch", DataType::UInt8, false),
    ]))
});

pub fn schema() -> SchemaRef {
    SCHEMA.clone()
}

/// One row of `note_events`; the kind follows from `velocity` (> 0: onset).
#[derive(Debug, Clone, PartialEq)]
pub struct NoteEventRow<'a> {
    pub dataset: &'a str,
    pub track_id: &'a str,
    pub stem_id: Option<&'a str>,
    pub program: u8,
    pub is_drum: bool,
    pub time: f64,
    pub velocity: u8,
    pub pitch: u8,
}

#[derive(Default)]
pub struct NoteEventsBuilder {
    dataset: StringBuilder,
    track_id: StringBuilder,
    stem_id: StringBuilder,
    program: UInt8Builder,
    is_drum: BooleanBuilder,
    time: Float64Builder,
    kind: StringBuilder,
    velocity: UInt8Builder,
    pitch: UInt8Builder,
}

impl NoteEventsBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, row: &NoteEventRow<'_>) {
        self.dataset.append_value(row.dataset);
        self.track_id.append_value(row.track_id);
        self.stem_id.append_option(row.stem_id);
        self.program.append_value(row.program);
        self.is_drum.append_value(row.is_drum);
        self.time.append_value(row.time);
        self.kind
            .append_value(if row.velocity > 0 { ONSET } else { OFFSET });
        self.velocity.append_value(row.velocity);
        self.pitch.append_value(row.pitch);
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
            Arc::new(self.time.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.velocity.finish()),
            Arc::new(self.pitch.finish()),
        ];
        RecordBatch::try_new(schema(), columns).expect("note_events columns match the schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, StringArray};

    #[test]
    fn kind_follows_velocity() {
        let mut b = NoteEventsBuilder::new();
        for velocity in [1, 0] {
            b.push(&NoteEventRow {
                dataset: "d",
                track_id: "t",
                stem_id: Some("S00"),
                program: 33,
                is_drum: false,
                time: 0.25,
                velocity,
                pitch: 40,
            });
        }
        let batch = b.finish();
        assert_eq!(batch.schema(), schema());
        let kind = batch
            .column(6)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!((kind.value(0), kind.value(1)), (ONSET, OFFSET));
        assert_eq!(kind.len(), 2);
    }
}
