//! MusicNet: 330 recordings, each with note labels `<split>_labels/<id>.csv` (columns
//! `start_time, end_time, instrument, note, start_beat, end_beat, note_value`; times in samples
//! at 44.1 kHz), the recording `<split>_data/<id>.wav`, and in YourMT3's 16 kHz release also a
//! synthesised rendering of its MIDI (`<split>_labels_midi/<id>.mid`, `<split>_synth/<id>.wav`)
//! and EM re-aligned labels (`<split>_em/<id>.mid`, 323 of them). The original release (labels
//! and data only) reads the same way, with the acoustic tracks alone.
//!
//! Each recording gives up to three tracks, one per audio and label source:
//! - `<id>`: the recording with the CSV labels (program = the CSV's instrument, velocity 1);
//!   its official split is its folder's (`train`/`test`). `duration_sec` is the last offset
//!   (YourMT3 took the first note's offset, a bug);
//! - `<id>_synth`: the synthesised audio with its MIDI's notes;
//! - `<id>_em`: the recording with the EM labels.
//!
//! `test_labels_midi/1759.mid` and `test_labels_midi/1819.mid` are duplicates and skipped, as
//! YourMT3 does. A bad CSV row is a problem naming the file and line.
//!
//! Lists (YourMT3's fixed id lists and derived sets): `train_mt3` (acoustic + synth of the
//! 300 ids outside validation_mt3 and test_mt3_acoustic), `train_mt3_synth`,
//! `train_mt3_acoustic`, `validation_mt3_synth`, `validation_mt3_acoustic`, `test_mt3_acoustic`,
//! `train_thickstun` (acoustic + synth of the 320 ids outside test_thickstun_ext),
//! `test_thickstun`, `test_thickstun_ext`, `train_thickstun_em` (EM + synth),
//! `train_mt3_em` (EM + synth), `validation_mt3_em`, `test_mt3_em`, `test_em_table2`,
//! `test_thickstun_em`, `test_thickstun_ext_em`, `test_cheuk_table2` (acoustic), `all`.

use super::meta_mix_audio;
use std::collections::{BTreeMap, BTreeSet};

use amt_symbolic::{Note, midi_to_notes, mix_notes};

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    file_stem, parent, parse_csv, single_stem,
};
use crate::{Error, Result};

pub const NAME: &str = "musicnet";

pub struct MusicNet;

const VALIDATION_MT3: [u32; 15] = [
    1733, 1765, 1790, 1818, 2160, 2198, 2289, 2300, 2308, 2315, 2336, 2466, 2477, 2504, 2611,
];
const TEST_MT3_ACOUSTIC: [u32; 15] = [
    1729, 1776, 1813, 1893, 2118, 2186, 2296, 2431, 2432, 2487, 2497, 2501, 2507, 2537, 2621,
];
const TEST_THICKSTUN: [u32; 3] = [1819, 2303, 2382];
const TEST_THICKSTUN_EXT: [u32; 10] = [1759, 1819, 2106, 2191, 2298, 2303, 2382, 2416, 2556, 2628];
const TEST_EM_TABLE2: [u32; 6] = [2191, 2628, 2106, 2298, 1819, 2416];
/// Recordings without EM labels.
const EM_MISSING: [u32; 7] = [2194, 2211, 2227, 2230, 2292, 2305, 2310];
/// Synth MIDI files YourMT3 discards as duplicates.
const DUPLICATE_MIDI: [&str; 2] = ["test_labels_midi/1759.mid", "test_labels_midi/1819.mid"];

/// The CSV labels of one recording, or what is wrong (with the line).
fn csv_notes(text: &str) -> std::result::Result<Vec<Note>, String> {
    let rows = parse_csv(text);
    let Some(((_, header), body)) = rows.split_first() else {
        return Err("empty".into());
    };
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| format!("no `{name}` column (line 1)"))
    };
    let (start, end, inst, note) = (
        col("start_time")?,
        col("end_time")?,
        col("instrument")?,
        col("note")?,
    );
    let mut notes = Vec::new();
    for (line, fields) in body {
        let num = |i: usize| -> std::result::Result<f64, String> {
            fields
                .get(i)
                .and_then(|f| f.trim().parse::<f64>().ok())
                .ok_or_else(|| format!("line {line}: field {} is not a number", i + 1))
        };
        let (s, e, program, pitch) = (num(start)?, num(end)?, num(inst)?, num(note)?);
        if !(0.0..=127.0).contains(&program) || !(0.0..=127.0).contains(&pitch) {
            return Err(format!("line {line}: instrument or note out of range"));
        }
        notes.push(Note {
            is_drum: false,
            program: program as u8,
            onset: s / 44_100.0,
            offset: e / 44_100.0,
            pitch: pitch as u8,
            velocity: 1,
        });
    }
    Ok(mix_notes(vec![notes]))
}

/// The recordings' files by id: (folder kind, id) -> path.
struct Sources {
    labels: BTreeMap<u32, String>,
    data: BTreeMap<u32, String>,
    synth: BTreeMap<u32, String>,
    midi: BTreeMap<u32, String>,
    em: BTreeMap<u32, String>,
}

fn sources(files: &DatasetFiles) -> Sources {
    let mut s = Sources {
        labels: BTreeMap::new(),
        data: BTreeMap::new(),
        synth: BTreeMap::new(),
        midi: BTreeMap::new(),
        em: BTreeMap::new(),
    };
    for p in files.paths() {
        let Ok(id) = file_stem(p).parse::<u32>() else {
            continue;
        };
        if DUPLICATE_MIDI.iter().any(|d| p.ends_with(d)) {
            continue;
        }
        let folder = parent(p).rsplit('/').next().unwrap_or("");
        let slot = match (folder, p.rsplit_once('.').map(|(_, e)| e)) {
            (f, Some("csv")) if f.ends_with("_labels") => &mut s.labels,
            (f, Some("wav")) if f.ends_with("_data") => &mut s.data,
            (f, Some("wav")) if f.ends_with("_synth") => &mut s.synth,
            (f, Some("mid")) if f.ends_with("_labels_midi") || f.ends_with("_midi") => &mut s.midi,
            (f, Some("mid")) if f.ends_with("_em") => &mut s.em,
            _ => continue,
        };
        slot.entry(id).or_insert_with(|| p.to_string());
    }
    s
}

impl Adapter for MusicNet {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let s = sources(files);
        if s.labels.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `*_labels/<id>.csv` under `{}`: MusicNet's note labels",
                    files.folder.display()
                ),
            });
        }
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        for (&id, labels) in &s.labels {
            let Some(data) = s.data.get(&id) else {
                problems.push(Problem::new(
                    labels,
                    format!("no recording `*_data/{id}.wav`"),
                ));
                continue;
            };
            let split = if labels.split('/').any(|c| c.starts_with("test")) {
                "test"
            } else {
                "train"
            };
            let meta = |kind: &str, audio: &str| -> BTreeMap<String, String> {
                [
                    ("kind".to_string(), kind.to_string()),
                    ("audio".to_string(), audio.to_string()),
                    ("recording".to_string(), id.to_string()),
                    ("split".to_string(), split.to_string()),
                ]
                .into_iter()
                .collect()
            };
            tracks.push(TrackSpec {
                id: id.to_string(),
                source: labels.clone(),
                meta: meta("acoustic", data),
            });
            if let (Some(midi), Some(synth)) = (s.midi.get(&id), s.synth.get(&id)) {
                tracks.push(TrackSpec {
                    id: format!("{id}_synth"),
                    source: midi.clone(),
                    meta: meta("synth", synth),
                });
            }
            if let Some(em) = s.em.get(&id) {
                tracks.push(TrackSpec {
                    id: format!("{id}_em"),
                    source: em.clone(),
                    meta: meta("em", data),
                });
            }
        }
        Ok(Listing { tracks, problems })
    }

    fn read_track(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
        options: &ReadOptions,
    ) -> Result<Result<TrackNotes, Problem>> {
        let notes = if track.meta.get("kind").map(String::as_str) == Some("acoustic") {
            let text = match files.read_text(&track.source)? {
                Ok(t) => t,
                Err(p) => return Ok(Err(p)),
            };
            csv_notes(&text)
        } else {
            let bytes = files.read(&track.source)?;
            midi_to_notes(&bytes, &options.midi)
                .map(|m| m.notes)
                .map_err(|e| e.to_string())
        };
        let notes = notes.map(|n| {
            let duration = n.iter().map(|n| n.offset).fold(0.0, f64::max);
            (n, duration)
        });
        Ok(single_stem(&track.source, notes))
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
        let all: BTreeSet<u32> = tracks
            .iter()
            .filter_map(|t| t.meta.get("recording")?.parse().ok())
            .collect();
        let set = |ids: &[u32]| -> BTreeSet<u32> { ids.iter().copied().collect() };
        let minus = |a: &BTreeSet<u32>, b: &BTreeSet<u32>| -> BTreeSet<u32> {
            a.difference(b).copied().collect()
        };
        let em_missing = set(&EM_MISSING);
        let train_mt3 = minus(
            &minus(&all, &set(&VALIDATION_MT3)),
            &set(&TEST_MT3_ACOUSTIC),
        );
        let train_thickstun = minus(&all, &set(&TEST_THICKSTUN_EXT));
        let em = |ids: &BTreeSet<u32>| minus(ids, &em_missing);
        // (list, ids, track kinds it takes).
        let lists: Vec<(&str, BTreeSet<u32>, &[&str])> = vec![
            ("all", all.clone(), &["acoustic"]),
            ("train_mt3", train_mt3.clone(), &["acoustic", "synth"]),
            ("train_mt3_synth", train_mt3.clone(), &["synth"]),
            ("train_mt3_acoustic", train_mt3.clone(), &["acoustic"]),
            ("validation_mt3_synth", set(&VALIDATION_MT3), &["synth"]),
            (
                "validation_mt3_acoustic",
                set(&VALIDATION_MT3),
                &["acoustic"],
            ),
            ("test_mt3_acoustic", set(&TEST_MT3_ACOUSTIC), &["acoustic"]),
            (
                "train_thickstun",
                train_thickstun.clone(),
                &["acoustic", "synth"],
            ),
            ("test_thickstun", set(&TEST_THICKSTUN), &["acoustic"]),
            (
                "test_thickstun_ext",
                set(&TEST_THICKSTUN_EXT),
                &["acoustic"],
            ),
            ("train_thickstun_em", em(&train_thickstun), &["em"]),
            ("train_thickstun_em", train_thickstun.clone(), &["synth"]),
            ("train_mt3_em", em(&train_mt3), &["em"]),
            ("train_mt3_em", train_mt3.clone(), &["synth"]),
            ("validation_mt3_em", em(&set(&VALIDATION_MT3)), &["em"]),
            ("test_mt3_em", em(&set(&TEST_MT3_ACOUSTIC)), &["em"]),
            ("test_em_table2", set(&TEST_EM_TABLE2), &["em"]),
            ("test_thickstun_em", set(&TEST_THICKSTUN), &["em"]),
            ("test_thickstun_ext_em", set(&TEST_THICKSTUN_EXT), &["em"]),
            ("test_cheuk_table2", set(&TEST_EM_TABLE2), &["acoustic"]),
        ];
        let mut out = Vec::new();
        for t in tracks {
            let (Some(kind), Some(rec)) = (
                t.meta.get("kind"),
                t.meta.get("recording").and_then(|r| r.parse::<u32>().ok()),
            ) else {
                continue;
            };
            if kind == "acoustic"
                && let Some(s) = t.meta.get("split")
            {
                out.push((t.id.clone(), s.clone()));
            }
            for (name, ids, kinds) in &lists {
                if ids.contains(&rec) && kinds.contains(&kind.as_str()) {
                    out.push((t.id.clone(), name.to_string()));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::{in_list, scan};

    const HEADER: &str = "start_time,end_time,instrument,note,start_beat,end_beat,note_value\n";

    #[test]
    fn csv_labels_in_samples_and_a_bad_row() {
        let n = csv_notes(&format!(
            "{HEADER}44100,88200,1,60,0.0,1.0,Quarter\n22050,44100,41,72,0,0.5,Eighth\n"
        ))
        .unwrap();
        assert_eq!(
            n.iter()
                .map(|n| (n.onset, n.offset, n.program, n.pitch))
                .collect::<Vec<_>>(),
            [(0.5, 1.0, 41, 72), (1.0, 2.0, 1, 60)]
        );
        let e = csv_notes(&format!("{HEADER}44100,x,1,60,0,1,Q\n")).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    /// Three recordings in the 16 kHz layout: 1759 (a test_thickstun_ext id, with the duplicate
    /// synth MIDI that is skipped), 1733 (validation_mt3) and 2194 (no EM labels).
    #[test]
    fn tracks_per_source_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, bytes: &[u8]| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        let midi = amt_symbolic::notes_to_midi(&[Note {
            is_drum: false,
            program: 0,
            onset: 0.1,
            offset: 0.5,
            pitch: 64,
            velocity: 1,
        }])
        .unwrap();
        let csv = format!("{HEADER}4410,22050,1,64,0,1,Q\n");
        for (split, id) in [("test", 1759), ("train", 1733), ("train", 2194)] {
            put(&format!("{split}_labels/{id}.csv"), csv.as_bytes());
            put(&format!("{split}_data/{id}.wav"), b"RIFF");
            put(&format!("{split}_labels_midi/{id}.mid"), &midi);
            put(&format!("{split}_synth/{id}.wav"), b"RIFF");
            if id != 2194 {
                put(&format!("{split}_em/{id}.mid"), &midi);
            }
        }
        let files = scan("musicnet", dir.path());
        let listing = MusicNet.tracks(&files).unwrap();
        let ids: Vec<&str> = listing.tracks.iter().map(|t| t.id.as_str()).collect();
        // 1759's synth MIDI is the skipped duplicate: no synth track.
        assert_eq!(
            ids,
            [
                "1733",
                "1733_synth",
                "1733_em",
                "1759",
                "1759_em",
                "2194",
                "2194_synth"
            ]
        );
        let rows = MusicNet.splits(&files, &listing.tracks, 0).unwrap();
        let list = |l: &str| in_list(&rows, l);
        assert_eq!(list("validation_mt3_em"), ["1733_em"]);
        assert_eq!(list("validation_mt3_synth"), ["1733_synth"]);
        assert_eq!(list("test_thickstun_ext_em"), ["1759_em"]);
        assert_eq!(list("test_thickstun_ext"), ["1759"]);
        // 2194 has no EM labels: its synth rendering alone is in train_thickstun_em.
        assert_eq!(
            list("train_thickstun_em"),
            ["1733_em", "1733_synth", "2194_synth"]
        );
        assert_eq!(list("train_mt3"), ["1759", "2194", "2194_synth"]);
        assert_eq!(list("test"), ["1759"]);
        assert_eq!(list("all").len(), 3);
        // CSV labels: program from the CSV, times from 44.1 kHz samples.
        let read = MusicNet
            .read_track(&files, &listing.tracks[0], &ReadOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(read.stems[0].notes[0].program, 1);
        assert!((read.duration_s - 0.5).abs() < 1e-9);
    }
}
