//! Arrow schemas and typed row builders of every artifact table.
//!
//! Each table lives in its own module, declared once with [`table!`]: that gives its `NAME`,
//! `COLUMNS`, `schema()`, a row struct and a builder with a typed `push()`. Table and column names are fixed: users and checks query them by name. Only
//! standard Arrow types are used so that DuckDB, polars and pandas read the Parquet files too.

#[macro_use]
mod table;

pub mod data_presets;
pub mod eval;
pub mod files;
pub mod note_events;
pub mod notes;
pub mod problems;
pub mod segments;
pub mod splits;
pub mod stems;
pub mod tracks;
pub mod train_metrics;

use arrow::datatypes::SchemaRef;

/// The arrow crate, for the expansions of [`table!`].
#[doc(hidden)]
pub use arrow as __arrow;

/// A table that stages publish and `amt sql` registers.
#[derive(Debug, Clone, Copy)]
pub struct TableDef {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: fn() -> SchemaRef,
}

/// Every table known to this build of amt, in the order `amt tables` lists them.
pub const TABLES: &[TableDef] = &[
    TableDef {
        name: files::NAME,
        description: "every file of a dataset's local folder, fingerprinted (extract)",
        schema: files::schema,
    },
    TableDef {
        name: tracks::NAME,
        description: "one row per track whose notes were read, with its duration (notes)",
        schema: tracks::schema,
    },
    TableDef {
        name: notes::NAME,
        description: "every note of every track (and stem), times in seconds (notes)",
        schema: notes::schema,
    },
    TableDef {
        name: note_events::NAME,
        description: "onset/offset events of each track's (stem's) notes, sorted (notes)",
        schema: note_events::schema,
    },
    TableDef {
        name: stems::NAME,
        description: "every stem and mix of every track, decoded to 16 kHz int16 (stem)",
        schema: stems::schema,
    },
    TableDef {
        name: splits::NAME,
        description: "the split of every track: train, validation, test (split)",
        schema: splits::schema,
    },
    TableDef {
        name: segments::NAME,
        description: "every 2.048 s segment of the shards: where its spectrogram and tokens are (shards)",
        schema: segments::schema,
    },
    TableDef {
        name: eval::RESULTS,
        description: "per-file scores of `amt eval` runs (metric, value; NULL for NaN)",
        schema: eval::results::schema,
    },
    TableDef {
        name: eval::MEANS,
        description: "per-run macro means of `amt eval` (NaN-ignoring) and micro F",
        schema: eval::means::schema,
    },
    TableDef {
        name: data_presets::NAME,
        description: "the members of each training run's data preset: weights, lists, entries, sampling shares (train)",
        schema: data_presets::schema,
    },
    TableDef {
        name: train_metrics::NAME,
        description: "losses, learning rate and validation metrics of `amt train` runs, by step",
        schema: train_metrics::schema,
    },
    TableDef {
        name: problems::NAME,
        description: "inputs a stage quarantined, with the reason",
        schema: problems::schema,
    },
];

/// Looks up a table definition by name.
pub fn table(name: &str) -> Option<&'static TableDef> {
    TABLES.iter().find(|t| t.name == name)
}

/// The Parquet file name a table is published under inside an artifact.
pub fn parquet_file_name(table: &str) -> String {
    format!("{table}.parquet")
}
