//! MAESTRO v2 / v3: the performances listed in `maestro-v*.json` (v2 a list of records, v3 a
//! dict of columns), each a piano MIDI read with YourMT3's MAESTRO rules: program 0 for every
//! channel without a program change, sustain pedal applied (unless `midi.ignore_pedal`),
//! `duration_sec` = MIDI length + 10 ms.
//!
//! The track id is the MIDI file's name without extension. YourMT3's 16 kHz release renames
//! `.midi` to `.mid`; a listed `x.midi` is also found as `x.mid`. A listed MIDI that is not in
//! the folder, or does not parse, is a problem. With several metadata files, the last in sorted
//! order (the newest version) is used.

use super::{meta_mix_audio, midi_single_stem};
use amt_symbolic::MidiToNotesConfig;
use amt_symbolic::datasets::parse_maestro_metadata;

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    dedup_ids, file_stem, join, meta_splits, parent,
};
use crate::{Error, Result};

pub const NAME: &str = "maestro";

pub struct Maestro;

/// `maestro-v<version>.json`.
fn is_metadata(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.strip_prefix("maestro-v")
        .and_then(|r| r.strip_suffix(".json"))
        .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

impl Adapter for Maestro {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let layout_error = |reason: String| Error::Layout {
            dataset: files.dataset.clone(),
            adapter: NAME.into(),
            reason,
        };
        let Some(meta) = files.paths().filter(|p| is_metadata(p)).last() else {
            return Err(layout_error(format!(
                "no `maestro-v*.json` metadata file under `{}`; MAESTRO's metadata lists its \
                 performances: copy it from the release into the dataset folder",
                files.folder.display()
            )));
        };
        let text = String::from_utf8(files.read(meta)?)
            .map_err(|e| layout_error(format!("`{meta}` is not UTF-8 text: {e}")))?;
        let entries = parse_maestro_metadata(&text, &files.abs(meta))
            .map_err(|e| layout_error(e.to_string()))?;
        let base = parent(meta);
        let mut problems = Vec::new();
        let mut tracks = Vec::new();
        for e in entries {
            let listed = join(base, &e.midi_filename);
            let renamed = listed
                .strip_suffix(".midi")
                .map(|s| format!("{s}.mid"))
                .filter(|r| files.contains(r));
            let source = if files.contains(&listed) {
                listed
            } else if let Some(r) = renamed {
                r
            } else {
                problems.push(Problem::new(
                    &listed,
                    format!("listed in `{meta}` but not in the dataset folder"),
                ));
                continue;
            };
            let audio = join(base, &e.audio_filename);
            tracks.push(TrackSpec {
                id: file_stem(&source).to_string(),
                source,
                meta: [
                    ("audio".to_string(), audio),
                    ("split".to_string(), e.split.clone()),
                    ("metadata".to_string(), meta.to_string()),
                ]
                .into_iter()
                .collect(),
            });
        }
        let tracks = dedup_ids(tracks, &mut problems);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        options: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let cfg = MidiToNotesConfig {
            force_all_program_to: options.midi.force_all_program_to.or(Some(0)),
            ..options.midi.clone()
        };
        midi_single_stem(files, track, &cfg, |n, len| (n, len + 0.01))
    }

    /// The performance's audio as its metadata lists it (`.wav`; YourMT3's 16 kHz release
    /// keeps the names).
    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        meta_mix_audio(files, track, "mix", &["metadata"])
    }

    /// The metadata's `split` column.
    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        Ok(meta_splits(tracks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::{copy, fixtures, scan};

    const MIDI: &str = "2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi";

    /// v3 metadata (a dict of columns) listing the fixture performance and one absent file;
    /// the MIDI is stored renamed to `.mid` as in YourMT3's 16 kHz release.
    #[test]
    fn v3_columns_renamed_midi_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let meta = serde_json::json!({
            "canonical_composer": {"0": "Alban Berg", "1": "Nobody"},
            "canonical_title": {"0": "Sonata Op. 1", "1": "Missing"},
            "split": {"0": "train", "1": "test"},
            "year": {"0": 2018, "1": 2004},
            "midi_filename": {"0": MIDI, "1": "2004/absent.midi"},
            "audio_filename": {"0": "2018/x.wav", "1": "2004/absent.wav"},
            "duration": {"0": 698.6, "1": 1.0},
        });
        std::fs::write(dir.path().join("maestro-v3.0.0.json"), meta.to_string()).unwrap();
        let renamed = MIDI.replace(".midi", ".mid");
        copy(
            &fixtures().join("maestro").join(MIDI),
            &dir.path().join(&renamed),
        );
        let files = scan("maestro", dir.path());
        let listing = Maestro.tracks(&files).unwrap();
        assert_eq!(listing.tracks.len(), 1);
        assert_eq!(listing.tracks[0].source, renamed);
        assert_eq!(
            listing.tracks[0].id,
            "MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1"
        );
        assert_eq!(listing.problems.len(), 1);
        assert_eq!(listing.problems[0].path, "2004/absent.midi");
        let read = Maestro
            .read_track(&files, &listing.tracks[0], &ReadOptions::default())
            .unwrap()
            .unwrap();
        let (want, duration) = amt_symbolic::datasets::maestro_notes(
            &std::fs::read(dir.path().join(&renamed)).unwrap(),
        )
        .unwrap();
        assert_eq!(read.stems.len(), 1);
        assert_eq!(read.stems[0].notes, want);
        assert_eq!(read.duration_s, duration);
        // ignore_pedal reaches the MIDI reader: notes get shorter.
        let no_pedal = ReadOptions {
            midi: MidiToNotesConfig {
                ignore_pedal: true,
                ..MidiToNotesConfig::default()
            },
            ..ReadOptions::default()
        };
        let short = Maestro
            .read_track(&files, &listing.tracks[0], &no_pedal)
            .unwrap()
            .unwrap();
        let total = |n: &[amt_symbolic::Note]| n.iter().map(|n| n.offset - n.onset).sum::<f64>();
        assert!(total(&short.stems[0].notes) < total(&want));
    }

    #[test]
    fn no_metadata_is_a_layout_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.midi"), b"x").unwrap();
        let err = Maestro.tracks(&scan("maestro", dir.path())).unwrap_err();
        assert!(err.to_string().contains("maestro-v*.json"), "{err}");
    }

    #[test]
    fn metadata_names() {
        assert!(is_metadata("maestro-v2.0.0.json"));
        assert!(is_metadata("sub/maestro-v3.0.0.json"));
        assert!(!is_metadata("maestro-v.json"));
        assert!(!is_metadata("maestro-v3.0.0.csv"));
        assert!(!is_metadata("other.json"));
    }
}
