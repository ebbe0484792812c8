//! `segments`: one row per 32767-sample segment of the `shards` stage (evaluation layout:
//! non-overlapping from 0, the last zero-padded), locating its spectrogram and tokens in the
//! artifact's shard files.

crate::table! {
    /// One row of `segments`.
    name: "segments", row: SegmentRow, builder: SegmentsBuilder,
    columns: {
        dataset: Utf8,
        /// The track's official split when the shards were built (see `splits`).
        split: Utf8,
        track_id: Utf8,
        /// The mix the audio comes from (`mix`, `mic`...).
        mix: Utf8,
        /// The shard file (Arrow IPC), relative to the artifact folder.
        shard: Utf8,
        /// Row of the segment in its shard file (over all its record batches).
        row: UInt32,
        start_sample: UInt64,
        /// Non-padding tokens of the target, summed over channels (EOS included).
        n_tokens: UInt32,
        /// Notes whose onset falls in the segment.
        n_notes: UInt32,
        /// Notes sounding across the segment start (the tie section).
        n_ties: UInt32,
        /// Tokens cut because the target was longer than the row (EOS kept).
        truncated: UInt32,
        /// Note and tie events left out because their program has no channel of the
        /// multi-channel task (programs 96-99 and 102-127 in `mc13_full_plus_256`; YourMT3
        /// drops them silently). Always 0 for one channel.
        unassigned_events: UInt32,
    }
}
