//! `problems`: inputs a stage could not use (a corrupt file, a broken MIDI), with the reason.
//! A problem quarantines one input; the stage still publishes everything else.

crate::table! {
    /// One row of `problems`.
    name: "problems", row: ProblemRow, builder: ProblemsBuilder,
    columns: {
        dataset: Utf8,
        /// The stage that quarantined the input.
        stage: Utf8,
        /// The offending file, relative to the dataset folder.
        path: Utf8,
        /// Why, as a sentence.
        error: Utf8,
    }
}
