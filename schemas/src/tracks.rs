//! `tracks`: one row per track the `notes` stage published (quarantined tracks are in
//! `problems` instead).

crate::table! {
    /// One row of `tracks`.
    name: "tracks", row: TrackRow, builder: TracksBuilder,
    columns: {
        dataset: Utf8,
        track_id: Utf8,
        /// YourMT3's `duration_sec`: Slakh the longest stem MIDI, MAESTRO the MIDI length +
        /// 10 ms, GuitarSet the JAMS `file_metadata.duration`.
        duration_s: Float64,
        /// Stems whose notes were read (0 for datasets without stems).
        n_stems: UInt32,
        /// Rows of `notes` for this track.
        n_notes: UInt64,
        /// The file that defines the track (Slakh `metadata.yaml`, MAESTRO MIDI, GuitarSet
        /// JAMS), relative to the dataset folder.
        source: Utf8,
    }
}
