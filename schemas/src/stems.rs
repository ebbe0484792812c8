//! `stems`: one row per stem and per mix of every track whose audio the `stem` stage decoded,
//! resampled to 16 kHz and stored as int16 in the artifact's per-track Arrow IPC files.

crate::table! {
    /// One row of `stems`.
    name: "stems", row: StemRow, builder: StemsBuilder,
    columns: {
        dataset: Utf8,
        track_id: Utf8,
        /// The stem (`S00`, `string3`) or the mix (`mix`, `mic`) this row holds.
        stem_id: Utf8,
        /// `stem` or `mix`.
        kind: Utf8,
        /// 0-127 GM program, 128 drums, 129 unannotated; null for mixes.
        program: UInt8 | null,
        /// Null for mixes.
        is_drum: Boolean | null,
        /// Always 16000.
        sample_rate: UInt32,
        n_samples: UInt64,
        /// The file decoded (dataset-relative); null for a mix computed from stems.
        source: Utf8 | null,
        source_rate: UInt32,
        source_channels: UInt16,
        /// The Arrow IPC file holding the samples, relative to the artifact folder.
        file: Utf8,
        /// The record batch of `file` holding this row's samples.
        batch: UInt32,
        /// Largest absolute sample value, in [0, 1] (0: a silent stem).
        peak: Float32,
    }
}
