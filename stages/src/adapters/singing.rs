//! MIR-ST500 and CMedia: singing transcription datasets with one JSON of note lists
//! (`{"<song>": [[onset_s, offset_s, midi_pitch], ...], ...}`) and, per song, a folder
//! `{train|test}/<song>/` holding `converted_Mixture.wav`, `vocals.wav` and
//! `accompaniment.wav` (spleeter's separation).
//!
//! Notes are program 100 (singing voice), velocity 1, sorted, validated and trimmed as
//! YourMT3 does. CMedia's notes get YourMT3's correction (a note shorter than 10 ms ends at the
//! next onset when that is less than 0.5 s away); MIR-ST500's are read as published (the
//! original's correction only printed, and only for songs 1-100).
//!
//! YourMT3's lists differ in the audio they feed, which amt models as two tracks per song:
//! - `<song>`: the mixture, with the two stems (vocals, program 100; accompaniment, program
//!   129 = unannotated) for stem augmentation. Lists `train` or `test` (MIR-ST500: songs up to
//!   400 train), `all`, `train_stem`, `all_stem`.
//! - `<song>_vocal`: the separated vocals alone. Lists `train_vocal` or `test_vocal`,
//!   `all_vocal`. These tracks have no official split (they are not the dataset's main
//!   entries), so overlapping training segments (`train_stride`) do not apply to them.

use std::collections::BTreeMap;

use amt_symbolic::{Note, sort_notes, trim_overlapping_notes, validate_notes};

use super::{
    Adapter, DatasetFiles, Listing, MixSource, Problem, ReadOptions, StemNotes, StemSource,
    TrackAudio, TrackNotes, TrackSpec, layout_error, metadata_text,
};
use crate::Result;
use crate::audio::Channels;

/// Singing voice (YourMT3's program for vocals).
const SINGING: u8 = 100;
/// Unannotated (the accompaniment stem).
const UNANNOTATED: u8 = 129;
const VOCAL_SUFFIX: &str = "_vocal";

/// One of the two datasets.
pub struct Singing {
    pub name: &'static str,
    /// The annotation file's name.
    annotation: &'static str,
    /// Songs above this number are the test split (MIR-ST500: 400); `None`: all train.
    last_train: Option<u32>,
    /// YourMT3's CMedia correction of very short notes.
    correct_short_notes: bool,
}

pub const MIR_ST500: Singing = Singing {
    name: "mir_st500",
    annotation: "MIR-ST500_corrected.json",
    last_train: Some(400),
    correct_short_notes: false,
};

pub const CMEDIA: Singing = Singing {
    name: "cmedia",
    annotation: "Cmedia_train_gt.json",
    last_train: None,
    correct_short_notes: true,
};

/// A song's notes from its JSON entry, or what is wrong with it.
fn song_notes(entry: &serde_json::Value, correct: bool) -> std::result::Result<Vec<Note>, String> {
    let rows = entry
        .as_array()
        .ok_or("is not a list of [onset, offset, pitch] notes")?;
    let mut notes = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let field = |k: usize| row.get(k).and_then(serde_json::Value::as_f64);
        let (Some(onset), Some(offset), Some(pitch)) = (field(0), field(1), field(2)) else {
            return Err(format!(
                "note {i} is {row}, not [onset, offset, pitch] numbers"
            ));
        };
        if !(0.0..=127.0).contains(&pitch.round()) || !onset.is_finite() || !offset.is_finite() {
            return Err(format!("note {i} is {row}: pitch or times out of range"));
        }
        notes.push(Note {
            is_drum: false,
            program: SINGING,
            onset,
            offset,
            pitch: pitch.round() as u8,
            velocity: 1,
        });
    }
    sort_notes(&mut notes);
    if correct {
        // YourMT3's CMedia fix: a note under 10 ms ends at the next onset if it is < 0.5 s away.
        for i in 0..notes.len().saturating_sub(1) {
            let next = notes[i + 1].onset;
            let n = &mut notes[i];
            if n.offset - n.onset < 0.01 && next - n.onset < 0.5 && next > n.onset {
                n.offset = next;
            }
        }
    }
    validate_notes(&mut notes);
    Ok(trim_overlapping_notes(notes))
}

/// `<...>/{train|test}/<song>/<file>` -> (song, folder).
fn song_folder(rel: &str, file: &str) -> Option<(u32, String)> {
    let dir = rel.strip_suffix(file)?.strip_suffix('/')?;
    let (parent, song) = dir.rsplit_once('/')?;
    let split_dir = parent.rsplit('/').next()?;
    (split_dir == "train" || split_dir == "test")
        .then(|| song.parse::<u32>().ok().map(|n| (n, dir.to_string())))
        .flatten()
}

impl Singing {
    fn split_of(&self, song: u32) -> &'static str {
        match self.last_train {
            Some(last) if song > last => "test",
            _ => "train",
        }
    }
}

impl Adapter for Singing {
    fn name(&self) -> &'static str {
        self.name
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let bad = |reason: String| layout_error(files, self.name, reason);
        let (ann, text) = metadata_text(
            files,
            self.name,
            |n| n == self.annotation,
            &format!("no `{}` (the dataset's note annotations)", self.annotation),
        )?;
        let ann = ann.as_str();
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| bad(format!("`{ann}` is not valid JSON: {e}")))?;
        let songs = json
            .as_object()
            .ok_or_else(|| bad(format!("`{ann}` is not an object of songs")))?;
        let folders: BTreeMap<u32, String> = files
            .paths()
            .filter_map(|p| song_folder(p, "converted_Mixture.wav"))
            .collect();
        let mut problems = Vec::new();
        let mut tracks = Vec::new();
        let mut keys: Vec<(u32, &String)> = Vec::new();
        for key in songs.keys() {
            match key.parse::<u32>() {
                Ok(n) => keys.push((n, key)),
                Err(_) => problems.push(Problem::new(
                    ann,
                    format!("song `{key}` is not a song number"),
                )),
            }
        }
        keys.sort();
        for (song, key) in keys {
            let Some(dir) = folders.get(&song) else {
                problems.push(Problem::new(
                    ann,
                    format!(
                        "song {song} is annotated but has no `train/{song}/converted_Mixture.wav` or `test/{song}/...`"
                    ),
                ));
                continue;
            };
            let meta = |audio: &str| -> BTreeMap<String, String> {
                [
                    ("song".to_string(), key.clone()),
                    // The song's note list, read here once (not once per track).
                    ("notes".to_string(), songs[key.as_str()].to_string()),
                    ("folder".to_string(), dir.clone()),
                    ("audio".to_string(), audio.to_string()),
                ]
                .into_iter()
                .collect()
            };
            tracks.push(TrackSpec {
                id: song.to_string(),
                source: ann.to_string(),
                meta: meta("mixture"),
            });
            tracks.push(TrackSpec {
                id: format!("{song}{VOCAL_SUFFIX}"),
                source: ann.to_string(),
                meta: meta("vocals"),
            });
        }
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        _: &DatasetFiles,
        track: &TrackSpec,
        _: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let key = track.meta.get("song").cloned().unwrap_or_default();
        let entry: serde_json::Value =
            match track.meta.get("notes").map(|n| serde_json::from_str(n)) {
                Some(Ok(v)) => v,
                _ => {
                    return Ok(Err(Problem::new(
                        &track.source,
                        format!("has no song `{key}`"),
                    )));
                }
            };
        Ok(match song_notes(&entry, self.correct_short_notes) {
            Ok(notes) => {
                let duration_s = notes.iter().map(|n| n.offset).fold(0.0, f64::max);
                // The mixture's notes belong to its vocals stem.
                let stem_id = (track.meta.get("audio").map(String::as_str) == Some("mixture"))
                    .then(|| "vocals".to_string());
                Ok(TrackNotes {
                    duration_s,
                    stems: vec![StemNotes { stem_id, notes }],
                })
            }
            Err(e) => Err(Problem::new(&track.source, format!("song `{key}`: {e}"))),
        })
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let dir = track.meta.get("folder").cloned().unwrap_or_default();
        let at = |name: &str| format!("{dir}/{name}");
        let vocals = at("vocals.wav");
        let mut deps = vec![track.source.clone()];
        let is_mixture = track.meta.get("audio").map(String::as_str) == Some("mixture");
        let needed: Vec<String> = if is_mixture {
            vec![
                at("converted_Mixture.wav"),
                vocals.clone(),
                at("accompaniment.wav"),
            ]
        } else {
            vec![vocals.clone()]
        };
        for f in &needed {
            if !files.contains(f) {
                return Ok(Err(Problem::new(
                    f,
                    format!("the audio of `{}` is not in the dataset folder", track.id),
                )));
            }
            deps.push(f.clone());
        }
        deps.sort();
        Ok(Ok(if is_mixture {
            TrackAudio {
                stems: vec![
                    StemSource {
                        stem_id: "vocals".into(),
                        path: vocals,
                        channels: Channels::Downmix,
                        program: SINGING,
                        is_drum: false,
                    },
                    StemSource {
                        stem_id: "accompaniment".into(),
                        path: at("accompaniment.wav"),
                        channels: Channels::Downmix,
                        program: UNANNOTATED,
                        is_drum: false,
                    },
                ],
                mixes: vec![MixSource::file("mix", at("converted_Mixture.wav"))],
                deps,
            }
        } else {
            TrackAudio {
                stems: Vec::new(),
                mixes: vec![MixSource::file("vocals", vocals)],
                deps,
            }
        }))
    }

    /// The mixture tracks: `train` or `test`, `all`, `train_stem` (train only), `all_stem`; the
    /// vocal tracks: `train_vocal` or `test_vocal`, `all_vocal`.
    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for t in tracks {
            let Some(song) = t.meta.get("song").and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let split = self.split_of(song);
            let lists: Vec<String> = if t.id.ends_with(VOCAL_SUFFIX) {
                vec![format!("{split}_vocal"), "all_vocal".into()]
            } else {
                let mut l = vec![split.to_string(), "all".into(), "all_stem".into()];
                if split == "train" {
                    l.push("train_stem".into());
                }
                l
            };
            out.extend(lists.into_iter().map(|l| (t.id.clone(), l)));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::scan;

    /// A tiny MIR-ST500 tree: songs 1 (train) and 401 (test) with audio, song 2 annotated
    /// without audio, and a malformed note in song 401.
    #[test]
    fn mir_st500_tracks_notes_lists_and_a_bad_note() {
        let dir = tempfile::tempdir().unwrap();
        let ann = serde_json::json!({
            "1": [[0.5, 1.0, 60.2], [1.2, 1.8, 62]],
            "2": [[0.1, 0.2, 50]],
            "401": [[0.3, 0.9, 64], [1.0, "x", 65]],
        });
        std::fs::create_dir_all(dir.path().join("MIR-ST500_20210206")).unwrap();
        std::fs::write(
            dir.path()
                .join("MIR-ST500_20210206/MIR-ST500_corrected.json"),
            ann.to_string(),
        )
        .unwrap();
        for (split, song) in [("train", 1), ("test", 401)] {
            let d = dir.path().join(format!("{split}/{song}"));
            std::fs::create_dir_all(&d).unwrap();
            for f in ["converted_Mixture.wav", "vocals.wav", "accompaniment.wav"] {
                std::fs::write(d.join(f), b"RIFF").unwrap();
            }
        }
        let files = scan("mir_st500", dir.path());
        let a = MIR_ST500;
        let listing = a.tracks(&files).unwrap();
        let ids: Vec<&str> = listing.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["1", "1_vocal", "401", "401_vocal"]);
        assert_eq!(listing.problems.len(), 1);
        assert!(listing.problems[0].error.contains("song 2"));
        let notes = a
            .read_track(&files, &listing.tracks[0], &ReadOptions::default())
            .unwrap()
            .unwrap();
        let n = &notes.stems[0].notes;
        assert_eq!(notes.stems[0].stem_id.as_deref(), Some("vocals"));
        assert_eq!(
            n.iter().map(|n| (n.pitch, n.program)).collect::<Vec<_>>(),
            [(60, 100), (62, 100)]
        );
        assert_eq!(notes.duration_s, 1.8);
        // The malformed note makes song 401 a problem naming it.
        let bad = a
            .read_track(&files, &listing.tracks[2], &ReadOptions::default())
            .unwrap()
            .unwrap_err();
        assert!(bad.error.contains("song `401`: note 1"), "{}", bad.error);
        // Lists.
        let mut rows = a.splits(&files, &listing.tracks, 0).unwrap();
        rows.sort();
        let of = |id: &str| -> Vec<&str> {
            let mut v: Vec<&str> = rows
                .iter()
                .filter(|(t, _)| t == id)
                .map(|(_, l)| l.as_str())
                .collect();
            v.sort();
            v
        };
        assert_eq!(of("1"), ["all", "all_stem", "train", "train_stem"]);
        assert_eq!(of("1_vocal"), ["all_vocal", "train_vocal"]);
        assert_eq!(of("401"), ["all", "all_stem", "test"]);
        assert_eq!(of("401_vocal"), ["all_vocal", "test_vocal"]);
        // The mixture has the two stems; the vocal track only the vocals.
        let mix = a.audio(&files, &listing.tracks[0]).unwrap().unwrap();
        let stems: Vec<(&str, u8)> = mix
            .stems
            .iter()
            .map(|s| (s.stem_id.as_str(), s.program))
            .collect();
        assert_eq!(stems, [("vocals", 100), ("accompaniment", 129)]);
        let voc = a.audio(&files, &listing.tracks[1]).unwrap().unwrap();
        assert!(voc.stems.is_empty());
        assert_eq!(voc.mixes[0].name, "vocals");
    }

    #[test]
    fn cmedia_lengthens_very_short_notes_to_the_next_onset() {
        let entry = serde_json::json!([
            [1.0, 1.005, 60],
            [1.3, 1.6, 62],
            [3.0, 3.004, 64],
            [4.0, 4.5, 65]
        ]);
        let n = song_notes(&entry, true).unwrap();
        // 1.0 -> next onset 1.3 (< 0.5 s away); 3.0's next onset is 1 s away: kept short
        // (then validated to the 10 ms minimum).
        assert_eq!(n[0].offset, 1.3);
        assert!((n[2].offset - n[2].onset - 0.01).abs() < 1e-9, "{:?}", n[2]);
        let plain = song_notes(&entry, false).unwrap();
        assert!(plain[0].offset < 1.3);
    }
}
