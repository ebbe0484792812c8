//! GuitarSet: one track per `annotation/<id>.jams`, its `note_midi` annotations read with
//! YourMT3's rules (program 24, pitch rounded half to even, velocity 1, sort, validate, trim;
//! see `amt_symbolic::datasets::guitarset_notes_from_jams`); `duration_sec` is the JAMS
//! `file_metadata.duration`. The MIDI options do not apply (JAMS are not MIDI). An invalid
//! JAMS file is a problem. The audio (`audio_mono-mic`, `audio_mono-pickup_mix`) is the `stem`
//! stage's business.

use amt_symbolic::datasets::guitarset_notes_from_jams;

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, StemNotes, TrackNotes, TrackSpec,
    dedup_ids, file_stem, parent,
};
use crate::{Error, Result};

pub const NAME: &str = "guitarset";

pub struct GuitarSet;

/// `.../annotation/<id>.jams`.
fn is_annotation(rel: &str) -> bool {
    rel.ends_with(".jams") && parent(rel).rsplit('/').next() == Some("annotation")
}

impl Adapter for GuitarSet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let tracks: Vec<TrackSpec> = files
            .paths()
            .filter(|p| is_annotation(p))
            .map(|p| TrackSpec {
                id: file_stem(p).to_string(),
                source: p.to_string(),
            })
            .collect();
        if tracks.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `annotation/*.jams` file under `{}`; point the dataset at the GuitarSet \
                     folder that holds `annotation/`",
                    files.folder.display()
                ),
            });
        }
        let mut problems = Vec::new();
        let tracks = dedup_ids(tracks, &mut problems);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        _: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let text = match files.read_text(&track.source)? {
            Ok(t) => t,
            Err(p) => return Ok(Err(p)),
        };
        Ok(
            match guitarset_notes_from_jams(&text, &files.abs(&track.source)) {
                Ok(g) => Ok(TrackNotes {
                    duration_s: g.duration_sec,
                    stems: vec![StemNotes {
                        stem_id: None,
                        notes: g.notes,
                    }],
                }),
                Err(e) => Err(Problem::new(&track.source, e)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_files() {
        assert!(is_annotation("annotation/03_BN3-119-G_solo.jams"));
        assert!(is_annotation("guitarset/annotation/x.jams"));
        assert!(!is_annotation("x.jams"));
        assert!(!is_annotation("annotation/x.json"));
        assert!(!is_annotation("other/x.jams"));
    }
}
