//! `data_presets`: what a training run's data preset (`amt train -d`) resolved to, one row per
//! member: its dataset, weight and lists, the training entries it found and its share of the
//! draws by YourMT3's sampler. Published by `amt train` in the cross-dataset slot
//! `+preset:<-d value>`.

crate::table! {
    /// One row of `data_presets`.
    name: "data_presets", row: DataPresetRow, builder: DataPresetsBuilder,
    columns: {
        /// The `-d` value (names joined by `.`).
        preset: Utf8,
        /// The single preset (or plain dataset) this member is.
        member: Utf8,
        dataset: Utf8,
        weight: Float64,
        /// Training lists, `+`-joined in merge order; empty when the member does not train.
        train_lists: Utf8,
        validation: Utf8 | null,
        test: Utf8 | null,
        eval_vocab: Utf8 | null,
        drum_vocab: Utf8 | null,
        /// Training entries (a track's mix; copies from merged lists count).
        train_entries: UInt64,
        /// Share of the training draws.
        probability: Float64,
    }
}
