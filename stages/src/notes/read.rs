//! Reading a published `notes` artifact back: one track's notes (by stem) and the track list.
//! Used by `amt tokenize`; later stages read the same tables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use amt_cache::Artifact;
use amt_schemas::{notes, tracks};
use amt_symbolic::Note;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt8Type, UInt32Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::{Error, Result};

/// One row of `tracks`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInfo {
    pub track_id: String,
    pub duration_s: f64,
    pub n_stems: u32,
}

/// A track's notes grouped by stem, stems in the order their rows appear.
pub type StemGroups = Vec<(Option<String>, Vec<Note>)>;

fn table_path(artifact: &Artifact, table: &str) -> Result<PathBuf> {
    artifact
        .table_files()
        .find(|(t, _)| *t == table)
        .map(|(_, p)| p)
        .ok_or_else(|| Error::Table {
            path: artifact.dir.clone(),
            reason: format!("the artifact has no `{table}` table"),
        })
}

fn batches(path: &Path) -> Result<Vec<RecordBatch>> {
    let bad = |reason: String| Error::Table {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| bad(e.to_string()))?;
    reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))
}

/// Checks that a batch has the table's schema, so the downcasts below cannot fail.
fn check_schema(
    path: &Path,
    batch: &RecordBatch,
    want: &arrow::datatypes::SchemaRef,
) -> Result<()> {
    if batch.schema().fields() != want.fields() {
        return Err(Error::Table {
            path: path.to_owned(),
            reason: "its columns differ from this build's schema; rebuild with `amt run --force --until notes`"
                .into(),
        });
    }
    Ok(())
}

/// Every track of the artifact's `tracks` table, in row order.
pub fn tracks(artifact: &Artifact) -> Result<Vec<TrackInfo>> {
    let path = table_path(artifact, tracks::NAME)?;
    let mut out = Vec::new();
    for b in batches(&path)? {
        check_schema(&path, &b, &tracks::schema())?;
        let id = b.column(1).as_string::<i32>();
        let duration = b.column(2).as_primitive::<Float64Type>();
        let n_stems = b.column(3).as_primitive::<UInt32Type>();
        for i in 0..b.num_rows() {
            out.push(TrackInfo {
                track_id: id.value(i).to_string(),
                duration_s: duration.value(i),
                n_stems: n_stems.value(i),
            });
        }
    }
    Ok(out)
}

/// The notes of one track, grouped by stem (empty when the track has no notes rows).
pub fn track_notes(artifact: &Artifact, track_id: &str) -> Result<StemGroups> {
    Ok(read_notes(artifact, Some(track_id))?
        .remove(track_id)
        .unwrap_or_default())
}

/// The notes of every track, grouped by stem, in one pass over the table.
pub fn all_track_notes(artifact: &Artifact) -> Result<BTreeMap<String, StemGroups>> {
    read_notes(artifact, None)
}

/// Notes by track (only `only`, when given), stems in the order their rows appear.
fn read_notes(artifact: &Artifact, only: Option<&str>) -> Result<BTreeMap<String, StemGroups>> {
    let path = table_path(artifact, notes::NAME)?;
    let mut out: BTreeMap<String, StemGroups> = BTreeMap::new();
    for b in batches(&path)? {
        check_schema(&path, &b, &notes::schema())?;
        let track = b.column(1).as_string::<i32>();
        let stem = b.column(2).as_string::<i32>();
        let program = b.column(3).as_primitive::<UInt8Type>();
        let is_drum = b.column(4).as_boolean();
        let onset = b.column(5).as_primitive::<Float64Type>();
        let offset = b.column(6).as_primitive::<Float64Type>();
        let pitch = b.column(7).as_primitive::<UInt8Type>();
        let velocity = b.column(8).as_primitive::<UInt8Type>();
        for i in 0..b.num_rows() {
            let track_id = track.value(i);
            if only.is_some_and(|t| t != track_id) {
                continue;
            }
            let stem_id = stem.is_valid(i).then(|| stem.value(i).to_string());
            let note = Note {
                is_drum: is_drum.value(i),
                program: program.value(i),
                onset: onset.value(i),
                offset: offset.value(i),
                pitch: pitch.value(i),
                velocity: velocity.value(i),
            };
            let groups = out.entry(track_id.to_string()).or_default();
            match groups.iter_mut().find(|(s, _)| *s == stem_id) {
                Some((_, list)) => list.push(note),
                None => groups.push((stem_id, vec![note])),
            }
        }
    }
    Ok(out)
}
