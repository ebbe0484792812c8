//! `note_events`: the onsets and offsets of each (track, stem)'s notes, sorted as YourMT3 sorts
//! them (time, is_drum, program, velocity, pitch: offsets before onsets at the same time).
//! Drum notes have onsets only. Ties (notes sounding across a segment start) are not stored:
//! they are computed per segment when tokenising.

/// `kind` of an onset event.
pub const ONSET: &str = "onset";
/// `kind` of an offset event.
pub const OFFSET: &str = "offset";

/// The `kind` of an event with this velocity (YourMT3 encodes offsets as velocity 0).
pub fn kind_of(velocity: u8) -> &'static str {
    if velocity > 0 { ONSET } else { OFFSET }
}

crate::table! {
    /// One row of `note_events`; `kind` is [`kind_of`] its velocity.
    name: "note_events", row: NoteEventRow, builder: NoteEventsBuilder,
    columns: {
        dataset: Utf8,
        track_id: Utf8,
        stem_id: Utf8 | null,
        program: UInt8,
        is_drum: Boolean,
        /// Seconds from the start of the track.
        time: Float64,
        /// `onset` or `offset`.
        kind: Utf8,
        /// The note's velocity on onsets, 0 on offsets (YourMT3's encoding of the kind).
        velocity: UInt8,
        pitch: UInt8,
    }
}
