//! MAPS: the `MUS` pieces (full performances) of each piano, `.../MUS/MAPS_MUS-<song>_<piano>.mid`
//! with the `.wav` beside it. YourMT3's 16 kHz release sorts them into `train/` and `test/`;
//! the original release has one folder per piano instead, where the two Disklavier pianos
//! recorded in a real room (`ENSTDkAm`, `ENSTDkCl`) are the test set, as usual for MAPS.
//!
//! Notes: every note program 0 (piano), the sustain pedal applied (YourMT3's MAPS rules). The
//! MIDI files are only read (YourMT3 overwrote them with a 120 bpm re-rendering).
//!
//! Lists: `test` (every test piece), `train` (the train pieces whose song, `<song>` in the file
//! name, is not also a test song; YourMT3 asserts 139), and `all` (every piece, unfiltered).
//! Other MAPS files (isolated notes `ISOL`, chords `RAND`/`UCHO`) are not tracks.

use super::{meta_mix_audio, midi_single_stem};
use std::collections::BTreeSet;

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    file_stem,
};
use crate::{Error, Result};

pub const NAME: &str = "maps";

pub struct Maps;

/// The pianos of MAPS' test set (recorded in a room, not synthesised).
const TEST_PIANOS: [&str; 2] = ["ENSTDkAm", "ENSTDkCl"];

/// `MAPS_MUS-<song>_<piano>` -> `<song>` (YourMT3's `MAPS_MUS-([\w-]+)_`: up to the last `_`).
fn song_of(stem: &str) -> Option<&str> {
    let rest = stem.strip_prefix("MAPS_MUS-")?;
    rest.rsplit_once('_').map(|(song, _)| song)
}

/// `train` or `test` for a MUS file: its top folder in YourMT3's layout, else its piano.
fn split_of(rel: &str) -> &'static str {
    let mut parts = rel.split('/');
    match parts.next() {
        Some("train") => return "train",
        Some("test") => return "test",
        _ => {}
    }
    let stem = file_stem(rel);
    if TEST_PIANOS.iter().any(|p| stem.ends_with(&format!("_{p}"))) {
        "test"
    } else {
        "train"
    }
}

impl Adapter for Maps {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        for p in files.paths() {
            let is_mus_midi = (p.ends_with(".mid") || p.ends_with(".midi"))
                && p.split('/').rev().nth(1) == Some("MUS")
                && file_stem(p).starts_with("MAPS_MUS-");
            if !is_mus_midi {
                continue;
            }
            let wav = format!("{}.wav", p.rsplit_once('.').map_or(p, |(s, _)| s));
            if !files.contains(&wav) {
                problems.push(Problem::new(p, format!("no `{wav}` beside it")));
                continue;
            }
            tracks.push(TrackSpec {
                id: file_stem(p).to_string(),
                source: p.to_string(),
                meta: [
                    ("audio".to_string(), wav),
                    ("split".to_string(), split_of(p).to_string()),
                ]
                .into_iter()
                .collect(),
            });
        }
        if tracks.is_empty() && problems.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `MUS/MAPS_MUS-*.mid` pieces under `{}`",
                    files.folder.display()
                ),
            });
        }
        let tracks = super::dedup_ids(tracks, &mut problems);
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        options: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let cfg = amt_symbolic::MidiToNotesConfig {
            force_all_program_to: Some(0),
            ..options.midi.clone()
        };
        midi_single_stem(files, track, &cfg, |mut notes, len| {
            for n in &mut notes {
                n.program = 0;
            }
            (notes, len)
        })
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        meta_mix_audio(files, track, "mix", &[])
    }

    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        fn split(t: &TrackSpec) -> &str {
            t.meta.get("split").map(String::as_str).unwrap_or("train")
        }
        let test_songs: BTreeSet<&str> = tracks
            .iter()
            .filter(|t| split(t) == "test")
            .filter_map(|t| song_of(&t.id))
            .collect();
        let mut out = Vec::new();
        for t in tracks {
            out.push((t.id.clone(), "all".to_string()));
            match split(t) {
                "test" => out.push((t.id.clone(), "test".to_string())),
                _ if song_of(&t.id).is_some_and(|s| test_songs.contains(s)) => {}
                _ => out.push((t.id.clone(), "train".to_string())),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::{in_list, scan};
    use amt_symbolic::Note;

    #[test]
    fn songs_and_splits() {
        assert_eq!(song_of("MAPS_MUS-alb_se3_AkPnBcht"), Some("alb_se3"));
        assert_eq!(song_of("MAPS_MUS-chpn-p19_ENSTDkCl"), Some("chpn-p19"));
        assert_eq!(
            split_of("test/ENSTDkCl/MUS/MAPS_MUS-a_ENSTDkCl.mid"),
            "test"
        );
        assert_eq!(
            split_of("train/AkPnBcht/MUS/MAPS_MUS-a_AkPnBcht.mid"),
            "train"
        );
        // The original release: by piano.
        assert_eq!(split_of("ENSTDkAm/MUS/MAPS_MUS-a_ENSTDkAm.mid"), "test");
        assert_eq!(split_of("SptkBGCl/MUS/MAPS_MUS-a_SptkBGCl.mid"), "train");
    }

    /// YourMT3's layout: a train piece whose song is also a test song is left out of `train`
    /// (but stays in `all`); programs are forced to 0; ISOL files are not tracks.
    #[test]
    fn train_excludes_test_songs_and_programs_are_piano() {
        let dir = tempfile::tempdir().unwrap();
        let midi = amt_symbolic::notes_to_midi(&[Note {
            is_drum: false,
            program: 40,
            onset: 0.5,
            offset: 1.0,
            pitch: 60,
            velocity: 1,
        }])
        .unwrap();
        for rel in [
            "train/AkPnBcht/MUS/MAPS_MUS-alb_se3_AkPnBcht",
            "train/AkPnBcht/MUS/MAPS_MUS-chpn-p19_AkPnBcht",
            "test/ENSTDkCl/MUS/MAPS_MUS-chpn-p19_ENSTDkCl",
            "train/AkPnBcht/ISOL/NO/MAPS_ISOL_NO_F_S0_M21_AkPnBcht",
        ] {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p.with_extension("mid"), &midi).unwrap();
            std::fs::write(p.with_extension("wav"), b"RIFF").unwrap();
        }
        let files = scan("maps", dir.path());
        let listing = Maps.tracks(&files).unwrap();
        assert_eq!(listing.tracks.len(), 3);
        let mut rows = Maps.splits(&files, &listing.tracks, 0).unwrap();
        rows.sort();
        let list = |l: &str| in_list(&rows, l);
        assert_eq!(list("train"), ["MAPS_MUS-alb_se3_AkPnBcht"]);
        assert_eq!(list("test"), ["MAPS_MUS-chpn-p19_ENSTDkCl"]);
        assert_eq!(list("all").len(), 3);
        let read = Maps
            .read_track(&files, &listing.tracks[0], &ReadOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(read.stems[0].notes[0].program, 0);
    }
}
