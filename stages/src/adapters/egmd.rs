//! E-GMD (Expanded Groove MIDI Dataset): drum performances listed in `e-gmd-v*.csv` (columns
//! `midi_filename`, `audio_filename`, `split`, ...), each MIDI read with YourMT3's E-GMD rules:
//! channel 10 as drums, every note a drum (program 128), sustain pedal ignored. The same layout
//! serves Magenta's original release and YourMT3's 16 kHz archive; a listed `x.midi` is also
//! found as `x.mid`.
//!
//! Track ids are the MIDI paths without extension, `/` replaced by `-`
//! (`drummer1-session1-1_funk_80_beat_4-4_1`): file names repeat across drummers and sessions.
//! Lists: the CSV's `split` (train, validation, test) and `test_reduced`, YourMT3's 246 test
//! files whose MIDI name ends in `_5.midi` or `_10.midi`. A CSV row with the wrong number of
//! fields, or a listed MIDI that is missing or does not parse, is a problem naming the file
//! (and the line); the other tracks are read.

use super::{meta_mix_audio, midi_single_stem};
use amt_symbolic::MidiToNotesConfig;
use amt_symbolic::note::DRUM_PROGRAM;

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    csv_column, csv_table, dedup_ids, join, metadata_text, parent,
};
use crate::Result;

pub const NAME: &str = "egmd";

pub struct Egmd;

/// `e-gmd-v<version>.csv`.
fn is_metadata(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.strip_prefix("e-gmd-v")
        .and_then(|r| r.strip_suffix(".csv"))
        .is_some_and(|v| !v.is_empty())
}

/// YourMT3's `test_reduced`: test files whose MIDI name ends in `_5.midi` or `_10.midi`.
fn in_test_reduced(midi_filename: &str) -> bool {
    let stem = midi_filename
        .strip_suffix(".midi")
        .or_else(|| midi_filename.strip_suffix(".mid"))
        .unwrap_or(midi_filename);
    stem.ends_with("_5") || stem.ends_with("_10")
}

impl Adapter for Egmd {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let (meta, text) = metadata_text(
            files,
            NAME,
            is_metadata,
            "no `e-gmd-v*.csv` metadata file (E-GMD's CSV lists its performances: copy it from the release into the dataset folder)",
        )?;
        let meta = meta.as_str();
        let (header, body) = csv_table(files, NAME, meta, &text)?;
        let col = |name: &str| csv_column(files, NAME, meta, &header, name);
        let (midi_col, audio_col, split_col) =
            (col("midi_filename")?, col("audio_filename")?, col("split")?);
        let base = parent(meta);
        let mut problems = Vec::new();
        let mut tracks = Vec::new();
        for (line, fields) in body {
            if fields.len() != header.len() {
                problems.push(Problem::new(
                    meta,
                    format!(
                        "line {line}: {} fields where the header has {}",
                        fields.len(),
                        header.len()
                    ),
                ));
                continue;
            }
            let listed_name = fields[midi_col].trim();
            let listed = join(base, listed_name);
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
                    format!("listed in `{meta}` (line {line}) but not in the dataset folder"),
                ));
                continue;
            };
            let id = listed_name
                .rsplit_once('.')
                .map_or(listed_name, |(s, _)| s)
                .replace('/', "-");
            let split = fields[split_col].trim().to_string();
            let reduced = split == "test" && in_test_reduced(listed_name);
            tracks.push(TrackSpec {
                id,
                source,
                meta: [
                    ("audio".to_string(), join(base, fields[audio_col].trim())),
                    ("split".to_string(), split),
                    ("test_reduced".to_string(), reduced.to_string()),
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
            ch_9_as_drum: true,
            force_all_drum: true,
            ignore_pedal: true,
            force_all_program_to: Some(DRUM_PROGRAM),
            ..options.midi.clone()
        };
        midi_single_stem(files, track, &cfg, |n, len| (n, len))
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        meta_mix_audio(files, track, "mix", &["metadata"])
    }

    /// The CSV's `split`, and `test_reduced`.
    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for t in tracks {
            if let Some(s) = t.meta.get("split") {
                out.push((t.id.clone(), s.clone()));
            }
            if t.meta.get("test_reduced").is_some_and(|r| r == "true") {
                out.push((t.id.clone(), "test_reduced".to_string()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::scan;
    use amt_symbolic::Note;

    fn drum(onset: f64, pitch: u8) -> Note {
        Note {
            is_drum: true,
            program: DRUM_PROGRAM,
            onset,
            offset: onset + 0.01,
            pitch,
            velocity: 1,
        }
    }

    /// A tiny E-GMD tree in the release's layout: the CSV (a quoted kit name with a comma, one
    /// short row, one absent MIDI), two drummers' sessions with the same file name.
    #[test]
    fn csv_rows_drum_notes_and_test_reduced() {
        let dir = tempfile::tempdir().unwrap();
        let csv = "drummer,session,id,style,bpm,beat_type,time_signature,duration,split,midi_filename,audio_filename,kit_name\n\
drummer1,drummer1/session1,drummer1/session1/1,funk/groove1,138,beat,4-4,2.0,train,drummer1/session1/1_funk-groove1_138_beat_4-4_1.midi,drummer1/session1/1_funk-groove1_138_beat_4-4_1.wav,Acoustic Kit\n\
drummer2,drummer2/session1,drummer2/session1/1,funk/groove1,138,beat,4-4,2.0,test,drummer2/session1/1_funk-groove1_138_beat_4-4_5.midi,drummer2/session1/1_funk-groove1_138_beat_4-4_5.wav,\"Kit, Vintage\"\n\
drummer2,drummer2/session1,drummer2/session1/2,rock,100,beat,4-4,2.0,test,drummer2/session1/2_rock_100_beat_4-4_3.midi,drummer2/session1/2_rock_100_beat_4-4_3.wav,Kit\n\
drummer3,short row\n\
drummer9,drummer9/session1,drummer9/session1/1,rock,100,beat,4-4,2.0,train,drummer9/session1/absent.midi,drummer9/session1/absent.wav,Kit\n";
        std::fs::write(dir.path().join("e-gmd-v1.0.0.csv"), csv).unwrap();
        let notes = [drum(0.5, 36), drum(1.0, 38), drum(1.5, 42)];
        let midi = amt_symbolic::notes_to_midi(&notes).unwrap();
        for (d, name) in [
            ("drummer1/session1", "1_funk-groove1_138_beat_4-4_1"),
            ("drummer2/session1", "1_funk-groove1_138_beat_4-4_5"),
            ("drummer2/session1", "2_rock_100_beat_4-4_3"),
        ] {
            let folder = dir.path().join(d);
            std::fs::create_dir_all(&folder).unwrap();
            // YourMT3's 16 kHz release stores `.mid`; the CSV keeps `.midi`.
            std::fs::write(folder.join(format!("{name}.mid")), &midi).unwrap();
            std::fs::write(folder.join(format!("{name}.wav")), b"RIFF").unwrap();
        }
        let files = scan("egmd", dir.path());
        let listing = Egmd.tracks(&files).unwrap();
        let ids: Vec<&str> = listing.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "drummer1-session1-1_funk-groove1_138_beat_4-4_1",
                "drummer2-session1-1_funk-groove1_138_beat_4-4_5",
                "drummer2-session1-2_rock_100_beat_4-4_3"
            ]
        );
        let problems: Vec<String> = listing.problems.iter().map(|p| p.error.clone()).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("line 5"), "{problems:?}");
        assert!(problems[1].contains("line 6"), "{problems:?}");
        // Every note is a drum of program 128.
        let read = Egmd
            .read_track(&files, &listing.tracks[0], &ReadOptions::default())
            .unwrap()
            .unwrap();
        let pitches: Vec<u8> = read.stems[0].notes.iter().map(|n| n.pitch).collect();
        assert_eq!(pitches, [36, 38, 42]);
        assert!(
            read.stems[0]
                .notes
                .iter()
                .all(|n| n.is_drum && n.program == DRUM_PROGRAM)
        );
        // Splits: the CSV's, and test_reduced for the `_5` test file only.
        let mut rows = Egmd.splits(&files, &listing.tracks, 0).unwrap();
        rows.sort();
        assert_eq!(
            rows,
            [
                (
                    "drummer1-session1-1_funk-groove1_138_beat_4-4_1".into(),
                    "train".into()
                ),
                (
                    "drummer2-session1-1_funk-groove1_138_beat_4-4_5".into(),
                    "test".into()
                ),
                (
                    "drummer2-session1-1_funk-groove1_138_beat_4-4_5".into(),
                    "test_reduced".into()
                ),
                (
                    "drummer2-session1-2_rock_100_beat_4-4_3".into(),
                    "test".into()
                ),
            ]
        );
        let audio = Egmd.audio(&files, &listing.tracks[1]).unwrap().unwrap();
        assert_eq!(audio.mixes.len(), 1);
        assert!(audio.deps.iter().any(|d| d.ends_with("_5.wav")));
    }

    #[test]
    fn test_reduced_names() {
        assert!(in_test_reduced("d/s/1_x_5.midi"));
        assert!(in_test_reduced("d/s/1_x_10.midi"));
        assert!(!in_test_reduced("d/s/1_x_15.midi"));
        assert!(!in_test_reduced("d/s/1_x_1.midi"));
    }
}
