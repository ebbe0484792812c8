//! ENST-drums: `drummer_<d>/annotation/<name>.txt` (lines `time name`), the drum recording
//! `drummer_<d>/audio/wet_mix/<name>.wav`, and for the "minus-one" pieces an accompaniment
//! `drummer_<d>/audio/accompaniment/<name>.wav`. The same layout serves the original release
//! and YourMT3's 16 kHz archive.
//!
//! Notes: each annotated hit becomes a drum note (program 128, 10 ms long), its instrument
//! name stripped of non-letters (`rc2` -> `rc`, `sd-` -> `sd`) and mapped through ENST's drum
//! map (bd 36, sd 38, sweep 0, sticks 1, rs 2, cs 37, chh 42, ohh 46, cb 56, c 3, lmt 47, mt 48,
//! mtr 58, lt 45, ltr 50, lft 41, rc 51, ch 52, cr 49, spl 55). An unknown name is a problem
//! naming the file and line.
//!
//! YourMT3 feeds a piece with different audio in different lists; amt gives each audio its own
//! track id (`<d>_<no>`, `<no>` the name's leading number):
//! - `<d>_<no>`: the wet drum mix alone (the `dtp` and `dtd` lists, and the `dtm` lists for
//!   pieces without accompaniment);
//! - `<d>_<no>_r2` and `<d>_<no>_r1` (minus-one pieces): the drums and the accompaniment as
//!   stems (programs 128 and 129), mixed as 0.6/0.4 (r2, YourMT3's default) or 0.75/0.25 (r1)
//!   of each stem divided by its own peak, then peak-normalised.
//!
//! Lists: `drummer_<d>_dtm` (d = 1, 2) and `all_dtm` (r2 for minus-one pieces), `drummer_<d>_dtp`
//! and `all_dtp` (wet mix), `drummer_3_dtp` (drummer 3's minus-one pieces, wet mix),
//! `drummer_3_dtd` and `all_dtd` (pieces without accompaniment), `drummer_3_dtm_r1`/`_r2`,
//! and the "random" lists over the minus-one pieces numbered 0.. in `all_dtm` order:
//! `train_dtm`, `validation_dtm`, `test_dtm` (r2; validation and test also take each piece's r1)
//! and their `_dtp` twins (wet mix), by YourMT3's fixed index lists.

use std::collections::BTreeMap;

use amt_symbolic::Note;
use amt_symbolic::note::DRUM_PROGRAM;

use super::{
    Adapter, DatasetFiles, Listing, MixKind, MixSource, Problem, ReadOptions, StemNotes,
    StemSource, TrackAudio, TrackNotes, TrackSpec, file_mix_audio,
};
use crate::audio::Channels;
use crate::{Error, Result};

pub const NAME: &str = "enstdrums";

pub struct Enst;

/// ENST's drum names -> GM-like pitches (YourMT3's `ENST_DRUM_NOTES`).
fn drum_pitch(name: &str) -> Option<u8> {
    Some(match name {
        "bd" => 36,
        "sd" => 38,
        "sweep" => 0,
        "sticks" => 1,
        "rs" => 2,
        "cs" => 37,
        "chh" => 42,
        "ohh" => 46,
        "cb" => 56,
        "c" => 3,
        "lmt" => 47,
        "mt" => 48,
        "mtr" => 58,
        "lt" => 45,
        "ltr" => 50,
        "lft" => 41,
        "rc" => 51,
        "ch" => 52,
        "cr" => 49,
        "spl" => 55,
        _ => return None,
    })
}

/// YourMT3's fixed "dtm_random" index lists over the 64 minus-one pieces.
const TRAIN_DTM: [usize; 44] = [
    47, 58, 14, 48, 60, 44, 34, 31, 5, 62, 46, 12, 9, 26, 57, 11, 16, 22, 33, 3, 6, 55, 50, 32, 52,
    53, 10, 28, 24, 41, 63, 51, 43, 49, 54, 15, 20, 1, 27, 2, 23, 45, 38, 37,
];
const VALIDATION_DTM: [usize; 10] = [39, 4, 19, 59, 61, 17, 56, 36, 29, 0];
const TEST_DTM: [usize; 10] = [18, 7, 42, 25, 40, 8, 30, 21, 13, 35];

/// The hits of one annotation file, or what is wrong (with the line).
fn hits(text: &str) -> std::result::Result<Vec<Note>, String> {
    let mut notes = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let (Some(time), Some(name)) = (fields.next(), fields.next()) else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: `{line}` is not `time name`", i + 1));
        };
        let onset: f64 = time
            .parse()
            .map_err(|_| format!("line {}: `{time}` is not a time", i + 1))?;
        let letters: String = name.chars().filter(char::is_ascii_alphabetic).collect();
        let pitch =
            drum_pitch(&letters).ok_or_else(|| format!("line {}: unknown drum `{name}`", i + 1))?;
        notes.push(Note {
            is_drum: true,
            program: DRUM_PROGRAM,
            onset,
            offset: onset + 0.01,
            pitch,
            velocity: 1,
        });
    }
    amt_symbolic::sort_notes(&mut notes);
    Ok(notes)
}

/// `drummer_<d>/annotation/<name>.txt` -> (d, name).
fn annotation(rel: &str) -> Option<(u32, &str)> {
    let mut parts = rel.rsplit('/');
    let file = parts.next()?;
    (parts.next()? == "annotation").then_some(())?;
    let d = parts.next()?.strip_prefix("drummer_")?.parse().ok()?;
    Some((d, file.strip_suffix(".txt")?))
}

impl Adapter for Enst {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let mut pieces: Vec<(u32, String, String)> = files
            .paths()
            .filter_map(|p| annotation(p).map(|(d, n)| (d, n.to_string(), p.to_string())))
            .collect();
        if pieces.is_empty() {
            return Err(Error::Layout {
                dataset: files.dataset.clone(),
                adapter: NAME.into(),
                reason: format!(
                    "no `drummer_<d>/annotation/*.txt` under `{}`",
                    files.folder.display()
                ),
            });
        }
        // all_dtm order: by drummer, then name.
        pieces.sort();
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        let mut minus_one = 0usize;
        for (d, name, ann) in pieces {
            let root = ann
                .strip_suffix(&format!("annotation/{name}.txt"))
                .unwrap_or("")
                .to_string();
            let wet = format!("{root}audio/wet_mix/{name}.wav");
            let acc = format!("{root}audio/accompaniment/{name}.wav");
            if !files.contains(&wet) {
                problems.push(Problem::new(&ann, format!("no wet mix `{wet}`")));
                continue;
            }
            let no = name.split('_').next().unwrap_or(&name).to_string();
            let base = format!("{d}_{no}");
            let has_acc = files.contains(&acc);
            let meta = |audio: &str, index: Option<usize>| -> BTreeMap<String, String> {
                let mut m: BTreeMap<String, String> = [
                    ("drummer".to_string(), d.to_string()),
                    ("audio".to_string(), audio.to_string()),
                    ("wet".to_string(), wet.clone()),
                    ("accompaniment".to_string(), acc.clone()),
                    ("minus_one".to_string(), has_acc.to_string()),
                ]
                .into_iter()
                .collect();
                if let Some(i) = index {
                    m.insert("index".into(), i.to_string());
                }
                m
            };
            let index = has_acc.then_some(minus_one);
            tracks.push(TrackSpec {
                id: base.clone(),
                source: ann.clone(),
                meta: meta("wet", index),
            });
            if has_acc {
                for r in ["r2", "r1"] {
                    tracks.push(TrackSpec {
                        id: format!("{base}_{r}"),
                        source: ann.clone(),
                        meta: meta(r, index),
                    });
                }
                minus_one += 1;
            }
        }
        let tracks = super::dedup_ids(tracks, &mut problems);
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
        Ok(match hits(&text) {
            Ok(notes) => {
                let duration_s = notes.iter().map(|n| n.offset).fold(0.0, f64::max);
                let stem_id = (track.meta.get("audio").map(String::as_str) != Some("wet"))
                    .then(|| "drums".to_string());
                Ok(TrackNotes {
                    duration_s,
                    stems: vec![StemNotes { stem_id, notes }],
                })
            }
            Err(e) => Err(Problem::new(&track.source, e)),
        })
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let get = |k: &str| track.meta.get(k).cloned().unwrap_or_default();
        let (wet, acc, audio) = (get("wet"), get("accompaniment"), get("audio"));
        if audio == "wet" {
            return file_mix_audio(files, track, &wet, "wet_mix", &[]);
        }
        if !files.contains(&acc) {
            return Ok(Err(Problem::new(&acc, "the accompaniment is missing")));
        }
        let (drums_w, acc_w) = if audio == "r1" {
            (0.75, 0.25)
        } else {
            (0.6, 0.4)
        };
        let mut deps = vec![track.source.clone(), wet.clone(), acc.clone()];
        deps.sort();
        Ok(Ok(TrackAudio {
            stems: vec![
                StemSource {
                    stem_id: "drums".into(),
                    path: wet,
                    channels: Channels::Downmix,
                    program: DRUM_PROGRAM,
                    is_drum: true,
                },
                StemSource {
                    stem_id: "accompaniment".into(),
                    path: acc,
                    channels: Channels::Downmix,
                    program: 129,
                    is_drum: false,
                },
            ],
            mixes: vec![MixSource {
                name: format!("accompaniment_mix_{audio}"),
                kind: MixKind::Weights {
                    weights: vec![("drums".into(), drums_w), ("accompaniment".into(), acc_w)],
                    normalise_stems: true,
                    peak_normalise: true,
                },
            }],
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
        let mut add = |id: &str, list: String| out.push((id.to_string(), list));
        for t in tracks {
            let get = |k: &str| t.meta.get(k).map(String::as_str).unwrap_or("");
            let d = get("drummer");
            let minus_one = get("minus_one") == "true";
            let index: Option<usize> = get("index").parse().ok();
            let random = |i: usize| {
                if TRAIN_DTM.contains(&i) {
                    Some("train")
                } else if VALIDATION_DTM.contains(&i) {
                    Some("validation")
                } else if TEST_DTM.contains(&i) {
                    Some("test")
                } else {
                    None
                }
            };
            match get("audio") {
                "wet" => {
                    add(&t.id, "all_dtp".into());
                    if d != "3" {
                        add(&t.id, format!("drummer_{d}_dtp"));
                    }
                    if minus_one {
                        if d == "3" {
                            add(&t.id, "drummer_3_dtp".into());
                        }
                        if let Some(r) = index.and_then(random) {
                            add(&t.id, format!("{r}_dtp"));
                        }
                    } else {
                        // Without accompaniment the wet mix is also the `dtm` audio.
                        add(&t.id, "all_dtm".into());
                        add(&t.id, "all_dtd".into());
                        if d == "3" {
                            add(&t.id, "drummer_3_dtd".into());
                        } else {
                            add(&t.id, format!("drummer_{d}_dtm"));
                        }
                    }
                }
                "r2" => {
                    add(&t.id, "all_dtm".into());
                    if d == "3" {
                        add(&t.id, "drummer_3_dtm_r2".into());
                    } else {
                        add(&t.id, format!("drummer_{d}_dtm"));
                    }
                    if let Some(r) = index.and_then(random) {
                        add(&t.id, format!("{r}_dtm"));
                    }
                }
                "r1" => {
                    if d == "3" {
                        add(&t.id, "drummer_3_dtm_r1".into());
                    }
                    if let Some(r) = index.and_then(random).filter(|r| *r != "train") {
                        add(&t.id, format!("{r}_dtm"));
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::{in_list, scan};

    #[test]
    fn hits_strip_names_and_name_bad_lines() {
        let n = hits("0.5 bd\n0.75 rc2\n1.0 sd-\n\n").unwrap();
        assert_eq!(
            n.iter()
                .map(|n| (n.pitch, n.program, n.is_drum))
                .collect::<Vec<_>>(),
            [(36, 128, true), (51, 128, true), (38, 128, true)]
        );
        assert!((n[0].offset - n[0].onset - 0.01).abs() < 1e-12);
        let e = hits("0.5 bd\n0.6 zz\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("zz"), "{e}");
    }

    /// Drummer 1 and 3, each with a minus-one piece and a piece without accompaniment.
    #[test]
    fn tracks_audio_variants_and_lists() {
        let dir = tempfile::tempdir().unwrap();
        let put = |rel: &str, text: &str| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        for (d, name, acc) in [
            (1, "001_hits_snare-drum_sticks_x6", false),
            (1, "061_phrase_rock_simple_medium_sticks", true),
            (3, "013_hits_bass-drum_x6", false),
            (3, "067_minus-one_rock_sticks", true),
        ] {
            put(
                &format!("drummer_{d}/annotation/{name}.txt"),
                "0.5 bd\n1.0 sd\n",
            );
            put(&format!("drummer_{d}/audio/wet_mix/{name}.wav"), "RIFF");
            if acc {
                put(
                    &format!("drummer_{d}/audio/accompaniment/{name}.wav"),
                    "RIFF",
                );
            }
        }
        let files = scan("enstdrums", dir.path());
        let listing = Enst.tracks(&files).unwrap();
        let ids: Vec<&str> = listing.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "1_001", "1_061", "1_061_r2", "1_061_r1", "3_013", "3_067", "3_067_r2", "3_067_r1"
            ]
        );
        let rows = Enst.splits(&files, &listing.tracks, 0).unwrap();
        let list = |l: &str| in_list(&rows, l);
        assert_eq!(list("drummer_1_dtm"), ["1_001", "1_061_r2"]);
        assert_eq!(list("drummer_1_dtp"), ["1_001", "1_061"]);
        assert_eq!(list("all_dtm"), ["1_001", "1_061_r2", "3_013", "3_067_r2"]);
        assert_eq!(list("all_dtd"), ["1_001", "3_013"]);
        assert_eq!(list("drummer_3_dtd"), ["3_013"]);
        assert_eq!(list("drummer_3_dtp"), ["3_067"]);
        assert_eq!(list("drummer_3_dtm_r1"), ["3_067_r1"]);
        assert_eq!(list("drummer_3_dtm_r2"), ["3_067_r2"]);
        // Minus-one pieces 0 and 1: index 0 is a validation piece, 1 a training one.
        assert_eq!(list("validation_dtm"), ["1_061_r1", "1_061_r2"]);
        assert_eq!(list("validation_dtp"), ["1_061"]);
        assert_eq!(list("train_dtm"), ["3_067_r2"]);
        // The r2 track mixes the peak-normalised stems 0.6/0.4.
        let r2 = Enst.audio(&files, &listing.tracks[2]).unwrap().unwrap();
        assert_eq!(r2.stems.len(), 2);
        assert_eq!(r2.mixes[0].name, "accompaniment_mix_r2");
        assert!(matches!(
            &r2.mixes[0].kind,
            MixKind::Weights { weights, normalise_stems: true, peak_normalise: true }
                if weights == &vec![("drums".to_string(), 0.6), ("accompaniment".to_string(), 0.4)]
        ));
        let wet = Enst.audio(&files, &listing.tracks[0]).unwrap().unwrap();
        assert!(wet.stems.is_empty());
    }
}
