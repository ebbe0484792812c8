//! Geerdes (private data, installed by hand with `--nodown`): `geerdes_data_final.csv` with
//! columns `id, split_half, title, artist, audio_file, midi_file, link`, each song's MIDI and
//! audio, and spleeter's separation beside the audio (`<audio>_vocals.wav`,
//! `<audio>_accompaniment.wav`).
//!
//! Notes: channel 10 as drums; the tracks named `vocal` or `vocalist` are singing voice (100),
//! `2nd Vocals/backings/harmony` and `backvocals` the chorus (101), as YourMT3 reads them.
//!
//! Each song is up to three tracks: `<id>` (the full mix, every note; lists `train` or
//! `validation` from `split_half`, and `all`), and, when the separation is there,
//! `<id>_vocals` (the vocals with the vocal notes) and `<id>_accompaniment` (the accompaniment
//! with the other notes), in `train_sep` or `validation_sep`, and `all_sep`.

use super::{meta_mix_audio, midi_single_stem};
use std::collections::BTreeMap;

use amt_symbolic::MidiToNotesConfig;

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    csv_column, csv_table, join, metadata_text, parent,
};
use crate::Result;

pub const NAME: &str = "geerdes";

pub struct Geerdes;

const METADATA: &str = "geerdes_data_final.csv";

/// YourMT3's track-name programs for Geerdes.
fn track_programs() -> BTreeMap<String, u8> {
    [
        ("vocal", 100),
        ("vocalist", 100),
        ("2nd Vocals/backings/harmony", 101),
        ("backvocals", 101),
    ]
    .into_iter()
    .map(|(n, p)| (n.to_string(), p))
    .collect()
}

fn is_vocal(program: u8) -> bool {
    program == 100 || program == 101
}

impl Adapter for Geerdes {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let (meta, text) =
            metadata_text(files, NAME, |n| n == METADATA, &format!("no `{METADATA}`"))?;
        let meta = meta.as_str();
        let (header, body) = csv_table(files, NAME, meta, &text)?;
        let col = |name: &str| csv_column(files, NAME, meta, &header, name);
        let (id_c, split_c, audio_c, midi_c) = (
            col("id")?,
            col("split_half")?,
            col("audio_file")?,
            col("midi_file")?,
        );
        let base = parent(meta);
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        for (line, f) in body {
            if f.len() != header.len() {
                problems.push(Problem::new(
                    meta,
                    format!(
                        "line {line}: {} fields where the header has {}",
                        f.len(),
                        header.len()
                    ),
                ));
                continue;
            }
            let id = f[id_c].trim().to_string();
            let (audio, midi) = (join(base, f[audio_c].trim()), join(base, f[midi_c].trim()));
            if !files.contains(&midi) {
                problems.push(Problem::new(
                    &midi,
                    format!("listed in `{meta}` (line {line}) but missing"),
                ));
                continue;
            }
            let split = f[split_c].trim().to_string();
            let stem = audio
                .rsplit_once('.')
                .map_or(audio.as_str(), |(s, _)| s)
                .to_string();
            let meta_of = |part: &str, audio: String| -> BTreeMap<String, String> {
                [
                    ("part".to_string(), part.to_string()),
                    ("audio".to_string(), audio),
                    ("split".to_string(), split.clone()),
                    ("metadata".to_string(), meta.to_string()),
                ]
                .into_iter()
                .collect()
            };
            tracks.push(TrackSpec {
                id: id.clone(),
                source: midi.clone(),
                meta: meta_of("mix", audio.clone()),
            });
            let (voc, acc) = (
                format!("{stem}_vocals.wav"),
                format!("{stem}_accompaniment.wav"),
            );
            if files.contains(&voc) && files.contains(&acc) {
                tracks.push(TrackSpec {
                    id: format!("{id}_vocals"),
                    source: midi.clone(),
                    meta: meta_of("vocals", voc),
                });
                tracks.push(TrackSpec {
                    id: format!("{id}_accompaniment"),
                    source: midi,
                    meta: meta_of("accompaniment", acc),
                });
            }
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
        let cfg = MidiToNotesConfig {
            ch_9_as_drum: true,
            track_name_to_program: track_programs(),
            ..options.midi.clone()
        };
        let part = track.meta_str("part");
        midi_single_stem(files, track, &cfg, |notes, len| {
            let notes = notes
                .into_iter()
                .filter(|n| match part {
                    "vocals" => is_vocal(n.program),
                    "accompaniment" => !is_vocal(n.program),
                    _ => true,
                })
                .collect();
            (notes, len)
        })
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        let mix = track.meta.get("part").map_or("mix", String::as_str);
        meta_mix_audio(files, track, mix, &["metadata"])
    }

    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for t in tracks {
            let split = t.meta.get("split").map(String::as_str).unwrap_or("");
            let sep = t.meta.get("part").is_some_and(|p| p != "mix");
            let suffix = if sep { "_sep" } else { "" };
            if split == "train" || split == "validation" {
                out.push((t.id.clone(), format!("{split}{suffix}")));
            }
            out.push((t.id.clone(), format!("all{suffix}")));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::testing::{in_list, scan};

    /// A song whose MIDI has a `vocal` track and a bass track, with its separation, and a song
    /// without one; the vocal notes go to `_vocals`, the others to `_accompaniment`.
    #[test]
    fn songs_parts_programs_and_lists() {
        use midly::{
            Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind,
        };
        let dir = tempfile::tempdir().unwrap();
        let track =
            |name: &'static [u8], ch: u8, program: u8, pitch: u8| -> Vec<TrackEvent<'static>> {
                let ev = |delta: u32, kind| TrackEvent {
                    delta: delta.into(),
                    kind,
                };
                vec![
                    ev(0, TrackEventKind::Meta(MetaMessage::TrackName(name))),
                    ev(
                        0,
                        TrackEventKind::Midi {
                            channel: ch.into(),
                            message: MidiMessage::ProgramChange {
                                program: program.into(),
                            },
                        },
                    ),
                    ev(
                        0,
                        TrackEventKind::Midi {
                            channel: ch.into(),
                            message: MidiMessage::NoteOn {
                                key: pitch.into(),
                                vel: 90.into(),
                            },
                        },
                    ),
                    ev(
                        480,
                        TrackEventKind::Midi {
                            channel: ch.into(),
                            message: MidiMessage::NoteOff {
                                key: pitch.into(),
                                vel: 0.into(),
                            },
                        },
                    ),
                    ev(0, TrackEventKind::Meta(MetaMessage::EndOfTrack)),
                ]
            };
        let smf = Smf {
            header: Header::new(Format::Parallel, Timing::Metrical(480.into())),
            tracks: vec![track(b"vocal", 0, 52, 64), track(b"Bass", 1, 33, 40)],
        };
        let mut midi = Vec::new();
        smf.write_std(&mut midi).unwrap();
        let put = |rel: &str, bytes: &[u8]| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        put(
            METADATA,
            b"id,split_half,title,artist,audio_file,midi_file,link\n\
              7,train,Song,Band,audio/7.wav,midi/7.mid,x\n\
              8,validation,Other,Band,audio/8.wav,midi/8.mid,\n",
        );
        for id in ["7", "8"] {
            put(&format!("midi/{id}.mid"), &midi);
            put(&format!("audio/{id}.wav"), b"RIFF");
        }
        put("audio/7_vocals.wav", b"RIFF");
        put("audio/7_accompaniment.wav", b"RIFF");
        let files = scan("geerdes", dir.path());
        let listing = Geerdes.tracks(&files).unwrap();
        let ids: Vec<&str> = listing.tracks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["7", "7_vocals", "7_accompaniment", "8"]);
        let programs = |i: usize| -> Vec<u8> {
            Geerdes
                .read_track(&files, &listing.tracks[i], &ReadOptions::default())
                .unwrap()
                .unwrap()
                .stems[0]
                .notes
                .iter()
                .map(|n| n.program)
                .collect()
        };
        assert_eq!(programs(0), [33, 100]);
        assert_eq!(programs(1), [100]);
        assert_eq!(programs(2), [33]);
        let rows = Geerdes.splits(&files, &listing.tracks, 0).unwrap();
        assert_eq!(in_list(&rows, "train"), ["7"]);
        assert_eq!(in_list(&rows, "validation"), ["8"]);
        assert_eq!(in_list(&rows, "train_sep"), ["7_accompaniment", "7_vocals"]);
        assert_eq!(in_list(&rows, "all_sep").len(), 2);
        assert_eq!(in_list(&rows, "all"), ["7", "8"]);
    }
}
