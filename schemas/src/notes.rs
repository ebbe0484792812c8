//! `notes`: one row per note of a track (per stem where the dataset has stems), as the `notes`
//! stage read it from the dataset's MIDI or annotation files. Times in seconds.
//!
//! A track's notes for training are the notes of all its stems mixed with YourMT3's
//! `mix_notes` (which trims overlapping same-program notes across stems).

crate::table! {
    /// One row of `notes`.
    name: "notes", row: NoteRow, builder: NotesBuilder,
    columns: {
        dataset: Utf8,
        track_id: Utf8,
        /// The stem the note belongs to (Slakh `S00`...); null for datasets without stems.
        stem_id: Utf8 | null,
        /// 0-127 GM program, 128 drums, 129 unannotated.
        program: UInt8,
        is_drum: Boolean,
        onset: Float64,
        offset: Float64,
        pitch: UInt8,
        velocity: UInt8,
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
        assert!(schema().field(2).is_nullable() && !schema().field(1).is_nullable());
    }
}
