//! URMP: one folder per piece, `<NN>_<Title>_<inst1>_<inst2>...`, holding the mix
//! `AuMix_<NN>_<Title>.wav`, one recording per part `AuSep_<k>_<inst>_<NN>_<Title>.wav` and its
//! notes `Notes_<k>_<inst>_<NN>_<Title>.txt` (lines of onset s, f0 Hz, duration s).
//!
//! A part's notes get the program of its instrument (vn 40, va 41, vc 42, db 43, fl 73, ob 68,
//! cl 71, sax 65, bn 70, tpt 56, hn 60, tbn 57, tba 58) and pitch `round(69 + 12 log2(f0/440))`;
//! the parts are mixed (sorted, trimmed, validated) as YourMT3 does, and `duration_sec` is the
//! last note's end + 10 ms. YourMT3 renames part 3 of `15_Surprise_tpt_tpt_tbn` from `tpt` to
//! `tbn` (the release mislabels it); amt reads that part as a trombone without touching the
//! files. `Supplementary` and hidden files are ignored.
//!
//! Lists: `test` = MT3's pieces 1, 2, 12, 13, 24, 25, 31, 38, 39; `train` = the others; `all`.

use std::collections::BTreeMap;

use amt_symbolic::{Note, mix_notes};

use super::{
    Adapter, DatasetFiles, Listing, MixSource, Problem, ReadOptions, StemNotes, StemSource,
    TrackAudio, TrackNotes, TrackSpec, parent,
};
use crate::audio::Channels;
use crate::{Error, Result};

pub const NAME: &str = "urmp";

pub struct Urmp;

/// MT3's URMP test pieces.
const TEST_PIECES: [u32; 9] = [1, 2, 12, 13, 24, 25, 31, 38, 39];

/// The GM program of a URMP instrument code.
pub fn program_of(code: &str) -> Option<u8> {
    Some(match code {
        "vn" => 40,
        "va" => 41,
        "vc" => 42,
        "db" => 43,
        "fl" => 73,
        "ob" => 68,
        "cl" => 71,
        "sax" => 65,
        "bn" => 70,
        "tpt" => 56,
        "hn" => 60,
        "tbn" => 57,
        "tba" => 58,
        _ => return None,
    })
}

/// One part of a piece: `<k>_<inst>_<rest>` of a `Notes_`/`AuSep_` file name.
#[derive(Debug, Clone, PartialEq)]
struct Part {
    index: u32,
    instrument: String,
    notes: String,
    audio: String,
}

/// The parts of a piece folder, from its `Notes_*.txt` files (the release's misnamed part is
/// fixed here).
fn parts(files: &DatasetFiles, folder: &str) -> Vec<Part> {
    let piece = folder.rsplit('/').next().unwrap_or(folder);
    let mut out = Vec::new();
    for p in files.paths().filter(|p| parent(p) == folder) {
        let name = p.rsplit('/').next().unwrap_or(p);
        let Some(rest) = name
            .strip_prefix("Notes_")
            .and_then(|r| r.strip_suffix(".txt"))
        else {
            continue;
        };
        let mut fields = rest.splitn(3, '_');
        let (Some(k), Some(inst), Some(tail)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(index) = k.parse::<u32>() else {
            continue;
        };
        let instrument = if piece == "15_Surprise_tpt_tpt_tbn" && index == 3 {
            "tbn".to_string()
        } else {
            inst.to_string()
        };
        out.push(Part {
            index,
            instrument,
            notes: p.to_string(),
            audio: format!("{folder}/AuSep_{k}_{inst}_{tail}.wav"),
        });
    }
    out.sort_by_key(|p| p.index);
    out
}

/// Notes of one part's file, or what is wrong with it (with the line).
fn part_notes(text: &str, program: u8) -> std::result::Result<Vec<Note>, String> {
    let mut notes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let nums: Vec<f64> = fields.iter().filter_map(|f| f.parse().ok()).collect();
        if fields.len() != 3 || nums.len() != 3 {
            return Err(format!(
                "line {}: `{line}` is not `onset f0 duration`",
                i + 1
            ));
        }
        let (onset, f0, duration) = (nums[0], nums[1], nums[2]);
        if f0 <= 0.0 || duration < 0.0 || onset < 0.0 {
            return Err(format!(
                "line {}: `{line}` has a non-positive f0 or time",
                i + 1
            ));
        }
        let pitch = (69.0 + 12.0 * (f0 / 440.0).log2()).round();
        if !(0.0..=127.0).contains(&pitch) {
            return Err(format!("line {}: f0 {f0} Hz is outside MIDI pitch", i + 1));
        }
        notes.push(Note {
            is_drum: false,
            program,
            onset,
            offset: onset + duration,
            pitch: pitch as u8,
            velocity: 1,
        });
    }
    Ok(notes)
}

impl Adapter for Urmp {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        // Piece folders: those holding an `AuMix_*.wav`, outside `Supplementary`.
        let mut folders: BTreeMap<String, String> = BTreeMap::new();
        for p in files.paths() {
            let name = p.rsplit('/').next().unwrap_or(p);
            if name.starts_with("AuMix_")
                && name.ends_with(".wav")
                && !p
                    .split('/')
                    .any(|c| c == "Supplementary" || c.starts_with('.'))
            {
                folders.insert(parent(p).to_string(), p.to_string());
            }
        }
        if folders.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no piece folder with an `AuMix_*.wav` under `{}`",
                    files.folder.display()
                ),
            });
        }
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        for (folder, mix) in folders {
            let piece = folder.rsplit('/').next().unwrap_or(&folder).to_string();
            let number = piece.split('_').next().and_then(|n| n.parse::<u32>().ok());
            let Some(number) = number else {
                problems.push(Problem::new(
                    &folder,
                    "a piece folder's name starts with its number (`01_Jupiter_vn_vc`)",
                ));
                continue;
            };
            if parts(files, &folder).is_empty() {
                problems.push(Problem::new(
                    &folder,
                    "has no `Notes_<k>_<inst>_*.txt` files",
                ));
                continue;
            }
            tracks.push(TrackSpec {
                id: piece.clone(),
                source: folder.clone(),
                meta: [
                    ("mix".to_string(), mix),
                    ("number".to_string(), number.to_string()),
                ]
                .into_iter()
                .collect(),
            });
        }
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        _: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let mut stems = Vec::new();
        let mut all = Vec::new();
        for part in parts(files, &track.source) {
            let Some(program) = program_of(&part.instrument) else {
                return Ok(Err(Problem::new(
                    &part.notes,
                    format!("unknown instrument code `{}`", part.instrument),
                )));
            };
            let text = match files.read_text(&part.notes)? {
                Ok(t) => t,
                Err(p) => return Ok(Err(p)),
            };
            match part_notes(&text, program) {
                Ok(n) => {
                    all.extend(n.iter().cloned());
                    stems.push(StemNotes {
                        stem_id: Some(format!("{}_{}", part.index, part.instrument)),
                        notes: mix_notes(vec![n]),
                    });
                }
                Err(e) => return Ok(Err(Problem::new(&part.notes, e))),
            }
        }
        let duration_s = all.iter().map(|n| n.offset).fold(0.0, f64::max) + 0.01;
        Ok(Ok(TrackNotes { duration_s, stems }))
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let mix = track.meta.get("mix").cloned().unwrap_or_default();
        let mut deps = vec![mix.clone()];
        let mut stems = Vec::new();
        for part in parts(files, &track.source) {
            if !files.contains(&part.audio) {
                return Ok(Err(Problem::new(
                    &part.audio,
                    format!("the recording of part {} is not in the folder", part.index),
                )));
            }
            deps.push(part.notes.clone());
            deps.push(part.audio.clone());
            stems.push(StemSource {
                stem_id: format!("{}_{}", part.index, part.instrument),
                path: part.audio,
                channels: Channels::Downmix,
                program: program_of(&part.instrument).unwrap_or(0),
                is_drum: false,
            });
        }
        deps.sort();
        Ok(Ok(TrackAudio {
            stems,
            mixes: vec![MixSource::file("mix", mix)],
            deps,
        }))
    }

    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for t in tracks {
            let Some(n) = t.meta.get("number").and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let split = if TEST_PIECES.contains(&n) {
                "test"
            } else {
                "train"
            };
            out.push((t.id.clone(), split.to_string()));
            out.push((t.id.clone(), "all".to_string()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::scan;

    #[test]
    fn pieces_parts_programs_pitches_and_the_misnamed_trombone() {
        let dir = tempfile::tempdir().unwrap();
        let write = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        write("01_Jupiter_vn_vc/AuMix_01_Jupiter_vn_vc.wav", "RIFF");
        write("01_Jupiter_vn_vc/AuSep_1_vn_01_Jupiter.wav", "RIFF");
        write("01_Jupiter_vn_vc/AuSep_2_vc_01_Jupiter.wav", "RIFF");
        // 440 Hz = A4 (69); 261.63 Hz = C4 (60).
        write(
            "01_Jupiter_vn_vc/Notes_1_vn_01_Jupiter.txt",
            "0.50\t440.0\t0.25\n1.00\t261.63\t0.50\n",
        );
        write(
            "01_Jupiter_vn_vc/Notes_2_vc_01_Jupiter.txt",
            "0.25 130.81 1.0\n",
        );
        write(
            "15_Surprise_tpt_tpt_tbn/AuMix_15_Surprise_tpt_tpt_tbn.wav",
            "RIFF",
        );
        write(
            "15_Surprise_tpt_tpt_tbn/Notes_3_tpt_15_Surprise.txt",
            "0.1 220 0.2\n",
        );
        write(
            "15_Surprise_tpt_tpt_tbn/AuSep_3_tpt_15_Surprise.wav",
            "RIFF",
        );
        write("20_Bad_fl/AuMix_20_Bad_fl.wav", "RIFF");
        write("20_Bad_fl/Notes_1_fl_20_Bad.txt", "0.1 oops 0.2\n");
        write("Supplementary/99_X_vn/AuMix_99_X_vn.wav", "RIFF");
        let files = scan("urmp", dir.path());
        let listing = Urmp.tracks(&files).unwrap();
        let ids: Vec<&str> = listing.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            ["01_Jupiter_vn_vc", "15_Surprise_tpt_tpt_tbn", "20_Bad_fl"]
        );
        let read = Urmp
            .read_track(&files, &listing.tracks[0], &ReadOptions::default())
            .unwrap()
            .unwrap();
        let got: Vec<(String, Vec<(u8, u8)>)> = read
            .stems
            .iter()
            .map(|s| {
                (
                    s.stem_id.clone().unwrap(),
                    s.notes.iter().map(|n| (n.program, n.pitch)).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("1_vn".to_string(), vec![(40, 69), (40, 60)]),
                ("2_vc".to_string(), vec![(42, 48)])
            ]
        );
        assert!((read.duration_s - 1.51).abs() < 1e-9, "{}", read.duration_s);
        // Part 3 of piece 15 is a trombone whatever its file says.
        let surprise = Urmp
            .read_track(&files, &listing.tracks[1], &ReadOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(surprise.stems[0].notes[0].program, 57);
        // A malformed line names the file and the line.
        let bad = Urmp
            .read_track(&files, &listing.tracks[2], &ReadOptions::default())
            .unwrap()
            .unwrap_err();
        assert!(bad.path.ends_with("Notes_1_fl_20_Bad.txt") && bad.error.contains("line 1"));
        // Lists: piece 1 is an MT3 test piece.
        let rows = Urmp.splits(&files, &listing.tracks, 0).unwrap();
        assert!(rows.contains(&("01_Jupiter_vn_vc".into(), "test".into())));
        assert!(rows.contains(&("15_Surprise_tpt_tpt_tbn".into(), "train".into())));
        assert_eq!(rows.iter().filter(|r| r.1 == "all").count(), 3);
        // Audio: the mix and one stem per part.
        let audio = Urmp.audio(&files, &listing.tracks[0]).unwrap().unwrap();
        let stems: Vec<(&str, u8)> = audio
            .stems
            .iter()
            .map(|s| (s.stem_id.as_str(), s.program))
            .collect();
        assert_eq!(stems, [("1_vn", 40), ("2_vc", 42)]);
    }
}
