//! RWC-Pop (YourMT3's 16 kHz release): `wav_to_midi_filename_mapping.csv` maps each song id to
//! its audio, `<header0><dir_no>/<track_name> <header1>.wav` (the header row holds the two path
//! pieces), and two annotations feed two lists:
//! - `bass` (`<id>_bass` tracks): `MIDI-Bass-Octave-fixed-v2/<id>_bass.mid` (90 of the 100
//!   songs), read with channel 10 as drums and the pedal ignored;
//! - `full` (`<id>` tracks): `MIDI/<id>.mid`, each track after the first reassigned to an
//!   instrument class by YourMT3's track-name keyword filters (first matching filter in its
//!   order; a track matching "drop" filters is left out; the `USE RWC PROGRAM MAP` filter takes
//!   the track's own program through RWC's map), rebuilt in memory as one channel per class
//!   with the class's name (YourMT3 wrote it to `MIDI_full_corrected/`; amt writes nothing), and
//!   read with the names Singing Voice (100), Singing Voice (Chorus) (101) and Drums (128). As
//!   in YourMT3, the time of a dropped program change or name event is dropped with it.
//!
//! A track name matching no filter, or a track without a name, is a problem naming the song.

use super::meta_mix_audio;
use std::collections::BTreeMap;

use amt_symbolic::{MidiToNotesConfig, midi_to_notes};
use midly::{MetaMessage, MidiMessage, Smf, TrackEvent, TrackEventKind};

use super::{
    Adapter, DatasetFiles, Listing, Problem, ReadOptions, TrackAudio, TrackNotes, TrackSpec,
    csv_table, join, layout_error, metadata_text, parent, single_stem,
};
use crate::Result;

pub const NAME: &str = "rwc_pop";

pub struct RwcPop;

const MAPPING: &str = "wav_to_midi_filename_mapping.csv";

/// What a keyword filter assigns a track to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Class {
    Program(u8),
    Drop,
    RwcProgramMap,
}

/// One keyword filter: (class, include, exclude, exact).
type Filter = (
    Class,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

/// YourMT3's `TRACK_NAME_FILTERS`, in its order.
const FILTERS: &[Filter] = &[
    (Class::Program(100), &["MELO", "VOCAL"], &["SUB", "GT"], &[]),
    (
        Class::Program(101),
        &["CHORUS", "SUB VOCAL", "SUB MELO"],
        &["/", "GT"],
        &[],
    ),
    (
        Class::Program(128),
        &["DRUMS", "DR", "HIHAT", "BD&SD", "TOM", "KICK"],
        &["ATOMOS"],
        &["DS"],
    ),
    (
        Class::Program(0),
        &["P.F.", "PF", "PIANO", "A.P", "CLAV", "CEMBAL", "HARPSI"],
        &["E.PIANO", "MARIMBA"],
        &[],
    ),
    (Class::Program(2), &["E.P"], &[], &[]),
    (
        Class::Program(8),
        &[
            "GLOCKEN", "VIBRA", "VIBE", "MARIMBA", "BELL", "CHIME", "CHAIM", "KALIMB", "CHIMRE",
            "MALLET",
        ],
        &[],
        &[],
    ),
    (
        Class::Program(16),
        &["ORG", "HAMO", "HARMONICA", "ACCORD"],
        &[],
        &[],
    ),
    (
        Class::Program(24),
        &[
            "MANDORIN",
            "AG",
            "NYLON",
            "AC.G",
            "GUITAR",
            "A.G",
            "E.G",
            "GT",
            "G. SOLO",
            "CLEAN LEAD",
            "SITAR",
            "ATOMOS",
            "ATMOS",
            "CLEAN",
        ],
        &["DIST", "DIS.", "D.", "E.G SOLO", "E.G.SOLO"],
        &[],
    ),
    (
        Class::Program(30),
        &[
            "OD L",
            "OD R",
            "DIS.",
            "DIST GT",
            "D.G",
            "DIST",
            "DIS.SOLO",
            "E.GUITAR (SOLO)",
            "E.G SOLO",
            "LEAD",
            "E.G.SOLO",
            "EG",
            "GT MELO",
        ],
        &["PAD", "SYN.LEAD"],
        &[],
    ),
    (Class::Program(33), &["BASS"], &[], &[]),
    (
        Class::Program(48),
        &[
            "OR 2", "ST", "STR", "ORCH", "PIZZ", "HIT", "TIMPANI", "VIORA", "VIOLA", "VIOLIN",
            "VN", "VA", "VC", "HARP", "LO FI", "CHO", "VLN", "CELLO",
        ],
        &[
            "CHORUS", "HARPSI", "STEEL", "GUITAR", "PAD", "BRASS", "GT", "HORN",
        ],
        &["OR"],
    ),
    (
        Class::Program(56),
        &["BRAS", "TRUMP", "TP", "TB", "TROM", "HORN", "FLUGEL"],
        &[],
        &[],
    ),
    (
        Class::Program(64),
        &["SAX", "OBOE", "BASS"],
        &["SYNSAX"],
        &[],
    ),
    (
        Class::Program(72),
        &["FLUTE", "PICO", "BOTTLE", "GAYA"],
        &[],
        &[],
    ),
    (
        Class::Program(80),
        &[
            "S SOLO",
            "SYN SOLO",
            "SOLO SYNTH",
            "SYNTH SOLO",
            "SYN.LEAD",
            "SYNTH(SEQ)",
            "PORTASYN",
            "SQ",
            "SEQ",
            "VOICE",
        ],
        &[],
        &[],
    ),
    (
        Class::Program(88),
        &["SYNTH", "SYN", "PAD", "FANTASIA", "BRIGHTNESS", "FANTASY"],
        &[
            "SYNBELL", "PORTA", "SOLO", "SEQ", "LEAD", "ORGAN", "BRAS", "BASS", "TROM",
        ],
        &[],
    ),
    (
        Class::Drop,
        &[
            "INTRO SE",
            "WOW",
            "PERC",
            "EXC",
            "REVERSE",
            "GONG",
            "PER.",
            "RAP",
            "REV",
            "S.E",
            "LASER",
            "LESER",
            "TAMBOURINE",
            "KANE",
            "PER",
            "SHAKER",
            "RWC-MDB",
        ],
        &[],
        &["SE", "EX", "808", "ICERAIN"],
    ),
    (
        Class::RwcProgramMap,
        &["KIRA", "KILA", "ETHNIC&GK"],
        &[],
        &["FUE", "OU-01A"],
    ),
];

/// RWC's own programs folded into YourMT3's classes (the `USE RWC PROGRAM MAP` filter).
fn rwc_program(p: u8) -> u8 {
    match p {
        9 | 11 => 8,
        74 => 72,
        94 => 80,
        98 | 100 => 88,
        p => p,
    }
}

/// A class's channel and track name in the rebuilt MIDI (YourMT3's `PRG2CH`).
fn channel_of(program: u8) -> Option<(u8, &'static str)> {
    Some(match program {
        0 => (0, "Acoustic Piano"),
        2 => (1, "Electric Piano"),
        8 => (2, "Chromatic Percussion"),
        16 => (3, "Organ"),
        24 => (4, "Guitar (clean)"),
        30 => (5, "Guitar (distortion)"),
        33 => (6, "Bass"),
        48 => (7, "Strings"),
        56 => (8, "Brass"),
        128 => (9, "Drums"),
        64 => (10, "Reed"),
        72 => (11, "Pipe"),
        80 => (12, "Synth Lead"),
        88 => (13, "Synth Pad"),
        100 => (14, "Singing Voice"),
        101 => (15, "Singing Voice (Chorus)"),
        _ => return None,
    })
}

/// The first filter a track name matches (YourMT3's rule: an exact or included keyword
/// matches, an excluded keyword vetoes).
fn classify(name: &str) -> Option<Class> {
    let upper = name.to_uppercase();
    FILTERS
        .iter()
        .find(|(_, include, exclude, exact)| {
            let hit =
                exact.iter().any(|k| *k == upper) || include.iter().any(|k| upper.contains(k));
            hit && !exclude.iter().any(|k| upper.contains(k))
        })
        .map(|f| f.0)
}

/// The full MIDI rebuilt with one channel per class, as YourMT3's `generate_corrected_midi`.
fn corrected_full_midi(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let smf = Smf::parse(bytes).map_err(|e| format!("not a MIDI file: {e}"))?;
    let mut tracks: Vec<Vec<TrackEvent>> = Vec::new();
    let Some(master) = smf.tracks.first() else {
        return Err("no tracks".into());
    };
    tracks.push(
        master
            .iter()
            .filter(|e| matches!(e.kind, TrackEventKind::Meta(_)))
            .cloned()
            .collect(),
    );
    for (i, track) in smf.tracks.iter().enumerate().skip(1) {
        let name = track.iter().find_map(|e| match e.kind {
            TrackEventKind::Meta(MetaMessage::TrackName(n)) => {
                Some(String::from_utf8_lossy(n).into_owned())
            }
            _ => None,
        });
        let Some(name) = name else {
            return Err(format!("track {i} has no name"));
        };
        let program = match classify(&name) {
            None => return Err(format!("track {i} `{name}` matches no instrument filter")),
            Some(Class::Drop) => continue,
            Some(Class::Program(p)) => p,
            Some(Class::RwcProgramMap) => track
                .iter()
                .find_map(|e| match e.kind {
                    TrackEventKind::Midi {
                        message: MidiMessage::ProgramChange { program },
                        ..
                    } => Some(rwc_program(program.as_int())),
                    _ => None,
                })
                .ok_or_else(|| format!("track {i} `{name}` has no program change to map"))?,
        };
        let (ch, class_name) = channel_of(program)
            .ok_or_else(|| format!("track {i} `{name}`: program {program} has no class"))?;
        let mut out = vec![
            TrackEvent {
                delta: 0.into(),
                kind: TrackEventKind::Meta(MetaMessage::TrackName(class_name.as_bytes())),
            },
            TrackEvent {
                delta: 0.into(),
                kind: TrackEventKind::Midi {
                    channel: ch.into(),
                    message: MidiMessage::ProgramChange {
                        program: (if program == 128 { 0 } else { program }).into(),
                    },
                },
            },
        ];
        for e in track {
            match e.kind {
                TrackEventKind::Meta(MetaMessage::TrackName(_))
                | TrackEventKind::Meta(MetaMessage::InstrumentName(_))
                | TrackEventKind::Midi {
                    message: MidiMessage::ProgramChange { .. },
                    ..
                } => {}
                TrackEventKind::Midi { message, .. } => out.push(TrackEvent {
                    delta: e.delta,
                    kind: TrackEventKind::Midi {
                        channel: ch.into(),
                        message,
                    },
                }),
                kind => out.push(TrackEvent {
                    delta: e.delta,
                    kind,
                }),
            }
        }
        tracks.push(out);
    }
    let rebuilt = Smf {
        header: smf.header,
        tracks,
    };
    let mut buf = Vec::new();
    rebuilt
        .write_std(&mut buf)
        .map_err(|e| format!("could not rebuild the MIDI: {e}"))?;
    Ok(buf)
}

impl Adapter for RwcPop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn tracks(&self, files: &DatasetFiles) -> Result<Listing> {
        let (map, text) = metadata_text(files, NAME, |n| n == MAPPING, &format!("no `{MAPPING}`"))?;
        let map = map.as_str();
        let (header, body) = csv_table(files, NAME, map, &text)?;
        if header.len() < 2 {
            return Err(layout_error(
                files,
                NAME,
                format!(
                    "`{map}`'s header holds the two audio path pieces; it has {} fields",
                    header.len()
                ),
            ));
        }
        let base = parent(map);
        let mut tracks = Vec::new();
        let mut problems = Vec::new();
        for (line, f) in body {
            if f.len() < 3 {
                problems.push(Problem::new(
                    map,
                    format!("line {line}: fewer than 3 fields"),
                ));
                continue;
            }
            let id = f[2].trim().to_string();
            let audio = join(
                base,
                &format!("{}{}/{} {}.wav", header[0], f[0], f[1], header[1]),
            );
            if !files.contains(&audio) {
                problems.push(Problem::new(
                    &audio,
                    format!("the audio of song `{id}` (line {line}) is missing"),
                ));
                continue;
            }
            let meta = |kind: &str| -> BTreeMap<String, String> {
                [
                    ("kind".to_string(), kind.to_string()),
                    ("audio".to_string(), audio.clone()),
                    ("mapping".to_string(), map.to_string()),
                ]
                .into_iter()
                .collect()
            };
            let full = join(base, &format!("MIDI/{id}.mid"));
            if files.contains(&full) {
                tracks.push(TrackSpec {
                    id: id.clone(),
                    source: full,
                    meta: meta("full"),
                });
            }
            let bass = join(base, &format!("MIDI-Bass-Octave-fixed-v2/{id}_bass.mid"));
            if files.contains(&bass) {
                tracks.push(TrackSpec {
                    id: format!("{id}_bass"),
                    source: bass,
                    meta: meta("bass"),
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
        let bytes = files.read(&track.source)?;
        let full = track.meta.get("kind").map(String::as_str) == Some("full");
        let (bytes, cfg) = if full {
            match corrected_full_midi(&bytes) {
                Ok(b) => (
                    b,
                    MidiToNotesConfig {
                        ch_9_as_drum: false,
                        ignore_pedal: false,
                        track_name_to_program: [
                            ("Singing Voice", 100),
                            ("Singing Voice (Chorus)", 101),
                            ("Drums", 128),
                        ]
                        .into_iter()
                        .map(|(n, p)| (n.to_string(), p))
                        .collect(),
                        ..options.midi.clone()
                    },
                ),
                Err(e) => return Ok(Err(Problem::new(&track.source, e))),
            }
        } else {
            (
                bytes,
                MidiToNotesConfig {
                    ch_9_as_drum: true,
                    ignore_pedal: true,
                    ..options.midi.clone()
                },
            )
        };
        let parsed = midi_to_notes(&bytes, &cfg)
            .map(|p| (p.notes, p.length_sec))
            .map_err(|e| e.to_string());
        Ok(single_stem(&track.source, parsed))
    }

    fn audio(
        &self,
        files: &DatasetFiles,
        track: &TrackSpec,
    ) -> Result<Result<TrackAudio, Problem>> {
        meta_mix_audio(files, track, "mix", &["mapping"])
    }

    /// `full` for the songs' full MIDI, `bass` for the bass MIDI.
    fn splits(
        &self,
        _: &DatasetFiles,
        tracks: &[TrackSpec],
        _seed: u64,
    ) -> Result<Vec<(String, String)>> {
        Ok(tracks
            .iter()
            .filter_map(|t| Some((t.id.clone(), t.meta.get("kind")?.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn track_names_to_classes_in_yourmt3s_order() {
        assert_eq!(classify("Melody"), Some(Class::Program(100)));
        assert_eq!(classify("SUB MELO"), Some(Class::Program(101)));
        assert_eq!(classify("Drums"), Some(Class::Program(128)));
        assert_eq!(classify("DS"), Some(Class::Program(128)));
        assert_eq!(classify("E.Piano"), Some(Class::Program(2)));
        assert_eq!(classify("Bass"), Some(Class::Program(33)));
        assert_eq!(classify("Dist Gt"), Some(Class::Program(30)));
        assert_eq!(classify("Strings"), Some(Class::Program(48)));
        assert_eq!(classify("SE"), Some(Class::Drop));
        assert_eq!(classify("Kira"), Some(Class::RwcProgramMap));
        assert_eq!(classify("zzz"), None);
        assert_eq!(rwc_program(74), 72);
    }
}
