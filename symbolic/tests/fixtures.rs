//! Real fixture files against golden values from `tests/golden/make_golden.py` (mido + PyYAML,
//! written independently from the spec; see that script for how to regenerate golden.json).

mod common;

use amt_symbolic::datasets::{
    SlakhLayout, SlakhTrack, guitarset_notes_from_jams, maestro_notes, parse_maestro_metadata,
    read_guitarset_jams,
};
use amt_symbolic::{Error, MidiToNotesConfig, Note, midi_to_notes};
use common::{fixtures, golden};
use serde_json::Value;

const MAESTRO_MIDI: &str =
    "maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi";

fn note_from_golden(v: &Value) -> Note {
    let a = v.as_array().unwrap();
    Note {
        is_drum: a[0].as_bool().unwrap(),
        program: a[1].as_u64().unwrap() as u8,
        onset: a[2].as_f64().unwrap(),
        offset: a[3].as_f64().unwrap(),
        pitch: a[4].as_u64().unwrap() as u8,
        velocity: a[5].as_u64().unwrap() as u8,
    }
}

/// FNV-1a 64 over one line per note (10 ms ticks, pitch, program, drum), as make_golden.py.
fn digest(notes: &[Note]) -> String {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for n in notes {
        let line = format!(
            "{},{},{},{},{}\n",
            (n.onset * 100.0).round_ties_even() as i64,
            (n.offset * 100.0).round_ties_even() as i64,
            n.pitch,
            n.program,
            u8::from(n.is_drum)
        );
        for b in line.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    }
    format!("{h:016x}")
}

fn check_summary(name: &str, notes: &[Note], length: f64, g: &Value) {
    assert_eq!(
        digest(notes),
        g["digest"].as_str().unwrap(),
        "{name}: note list digest"
    );
    assert_eq!(
        notes.len() as u64,
        g["n_notes"].as_u64().unwrap(),
        "{name}: count"
    );
    assert_eq!(length, g["midi_length"].as_f64().unwrap(), "{name}: length");
    let pmin = notes.iter().map(|n| n.pitch).min().unwrap();
    let pmax = notes.iter().map(|n| n.pitch).max().unwrap();
    assert_eq!(
        u64::from(pmin),
        g["pitch_min"].as_u64().unwrap(),
        "{name}: pitch min"
    );
    assert_eq!(
        u64::from(pmax),
        g["pitch_max"].as_u64().unwrap(),
        "{name}: pitch max"
    );
    let sum: f64 = notes.iter().map(|n| n.offset - n.onset).sum();
    assert!(
        (sum - g["sum_duration"].as_f64().unwrap()).abs() < 1e-6,
        "{name}: total duration {sum} vs {}",
        g["sum_duration"]
    );
    for (idx, want) in g["samples"].as_object().unwrap() {
        let i: usize = idx.parse().unwrap();
        assert_eq!(notes[i], note_from_golden(want), "{name}: note {i}");
    }
}

#[test]
fn slakh_track00001_redux_per_stem() {
    let g = golden();
    let g = &g["slakh_track00001"];
    let track =
        SlakhTrack::open(fixtures().join("slakh/slakh2100_flac_redux/train/Track00001")).unwrap();
    assert_eq!(track.layout, SlakhLayout::FlacRedux);
    let stems = track.stems();
    assert_eq!(stems.len(), 11);
    for s in &stems {
        let gs = &g[&s.id];
        assert_eq!(s.usable, gs["usable"].as_bool().unwrap(), "{}", s.id);
        assert_eq!(s.stem.program_num, gs["program_num"].as_i64().unwrap());
        assert_eq!(s.stem.is_drum, gs["is_drum"].as_bool().unwrap());
        assert_eq!(s.stem.plugin_name, gs["plugin_name"].as_str().unwrap());
        assert_eq!(s.stem.inst_class, gs["inst_class"].as_str().unwrap());
    }
    // S06 (program 103, sound effects) has no MIDI or audio: excluded.
    assert!(!stems.iter().find(|s| s.id == "S06").unwrap().usable);

    let out = track.notes(true).unwrap();
    assert_eq!(out.stems.len(), 10);
    let mut total = 0;
    for st in &out.stems {
        let gs = &g[&st.id];
        check_summary(&st.id, &st.notes, st.length_sec, gs);
        assert_eq!(
            st.bass_octave_fixed,
            gs["bass_octave_fixed"].as_bool().unwrap()
        );
        assert!(st.notes.iter().all(|n| n.is_drum == st.is_drum));
        if st.is_drum {
            assert!(st.notes.iter().all(|n| n.program == 128));
        } else {
            assert!(
                st.notes
                    .iter()
                    .all(|n| i64::from(n.program) == gs["program_num"].as_i64().unwrap())
            );
        }
        total += st.notes.len();
    }
    // S03 is an electric bass (33) rendered with a Rickenbacker plugin: one octave down.
    let s03 = out.stems.iter().find(|s| s.id == "S03").unwrap();
    assert!(s03.bass_octave_fixed);
    assert_eq!(s03.notes.iter().map(|n| n.pitch).min().unwrap(), 35);
    assert_eq!(g["S03"]["raw_pitch_min"].as_u64().unwrap(), 47);
    // S00 and S08 share program 30, so mixing trims a few overlapping notes.
    assert_eq!(out.notes.len() as u64, g["mix_n_notes"].as_u64().unwrap());
    assert!(out.notes.len() < total);
    assert_eq!(digest(&out.notes), g["mix_digest"].as_str().unwrap());
    assert_eq!(out.duration_sec, g["S05"]["midi_length"].as_f64().unwrap());
}

#[test]
fn slakh_bass_fix_can_be_disabled_and_has_a_plugin_exception() {
    let track =
        SlakhTrack::open(fixtures().join("slakh/slakh2100_flac_redux/train/Track00001")).unwrap();
    let raw = track.notes(false).unwrap();
    let s03 = raw.stems.iter().find(|s| s.id == "S03").unwrap();
    assert!(!s03.bass_octave_fixed);
    assert_eq!(s03.notes.iter().map(|n| n.pitch).min().unwrap(), 47);

    let s = track.stems().into_iter().find(|s| s.id == "S03").unwrap();
    let bytes = std::fs::read(&s.midi_path).unwrap();
    let mut stem = s.stem.clone();
    stem.plugin_name = "scarbee_jay_bass_slap_both.nkm".into();
    let ex = amt_symbolic::datasets::slakh_stem_notes(&bytes, &stem, true).unwrap();
    assert!(!ex.bass_octave_fixed);
    assert_eq!(ex.notes, s03.notes);
}

#[test]
fn babyslakh_layout_uses_files_because_flags_are_false() {
    let track = SlakhTrack::open(fixtures().join("slakh/babyslakh_16k/Track00001")).unwrap();
    assert_eq!(track.layout, SlakhLayout::Baby);
    assert!(
        track
            .metadata
            .stems
            .values()
            .all(|s| !s.audio_rendered && !s.midi_saved)
    );
    let usable: Vec<String> = track
        .stems()
        .into_iter()
        .filter(|s| s.usable)
        .map(|s| s.id)
        .collect();
    assert_eq!(usable.len(), 10);
    assert!(!usable.contains(&"S06".to_string()));
    // Same MIDI bytes as the redux copy, so the same notes.
    let baby = track.notes(true).unwrap();
    let redux = SlakhTrack::open(fixtures().join("slakh/slakh2100_flac_redux/train/Track00001"))
        .unwrap()
        .notes(true)
        .unwrap();
    assert_eq!(baby.notes, redux.notes);
}

#[test]
fn slakh_drum_stem_needs_the_metadata_flag() {
    // S01 carries program_change 0: without is_drum it would be parsed as piano.
    let p = fixtures().join("slakh/babyslakh_16k/Track00001/MIDI/S01.mid");
    let bytes = std::fs::read(p).unwrap();
    let plain = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    assert!(plain.notes.iter().all(|n| !n.is_drum && n.program == 0));
    let g = golden();
    assert_eq!(
        amt_symbolic::datasets::slakh_stem_notes(
            &bytes,
            &SlakhTrack::open(fixtures().join("slakh/babyslakh_16k/Track00001"))
                .unwrap()
                .metadata
                .stems["S01"],
            true
        )
        .unwrap()
        .notes
        .len() as u64,
        g["slakh_track00001"]["S01"]["n_notes"].as_u64().unwrap()
    );
}

#[test]
fn maestro_with_and_without_pedal() {
    let g = golden();
    let g = &g["maestro"];
    let bytes = std::fs::read(fixtures().join(MAESTRO_MIDI)).unwrap();
    let (notes, duration) = maestro_notes(&bytes).unwrap();
    let length = duration - 0.01;
    check_summary("maestro pedal", &notes, length, &g["pedal"]);
    assert!((length - 703.98).abs() < 0.01);

    let cfg = MidiToNotesConfig {
        force_all_program_to: Some(0),
        ignore_pedal: true,
        ..MidiToNotesConfig::default()
    };
    let nop = midi_to_notes(&bytes, &cfg).unwrap();
    check_summary(
        "maestro no pedal",
        &nop.notes,
        nop.length_sec,
        &g["no_pedal"],
    );
    // The pedal lengthens notes a lot (13165 CC64 events in this file).
    let sum = |v: &[Note]| v.iter().map(|n| n.offset - n.onset).sum::<f64>();
    assert!(sum(&notes) > 2.0 * sum(&nop.notes));
    assert!(
        notes
            .iter()
            .all(|n| n.program == 0 && n.velocity == 1 && !n.is_drum)
    );
}

#[test]
fn maestro_metadata_v2_list_and_v3_columns() {
    let p = fixtures().join("maestro/maestro-v2.0.0.json");
    let text = std::fs::read_to_string(&p).unwrap();
    let v2 = parse_maestro_metadata(&text, &p).unwrap();
    assert_eq!(v2.len(), 1);
    assert_eq!(v2[0].split, "train");
    assert_eq!(v2[0].canonical_composer, "Alban Berg");
    assert_eq!(
        v2[0].midi_filename,
        MAESTRO_MIDI.trim_start_matches("maestro/")
    );
    assert_eq!(v2[0].duration, 698.661160312);

    // v3 layout: the same data as columns keyed by row index (rows out of order on purpose).
    let v3 = r#"{
      "canonical_composer": {"1": "B", "0": "Alban Berg"},
      "canonical_title": {"0": "Sonata Op. 1", "1": "T"},
      "split": {"0": "train", "1": "test"},
      "year": {"0": 2018, "1": 2004},
      "midi_filename": {"0": "2018/a.midi", "1": "2004/b.midi"},
      "audio_filename": {"0": "2018/a.wav", "1": "2004/b.wav"},
      "duration": {"0": 698.661160312, "1": 1.5}
    }"#;
    let rows = parse_maestro_metadata(v3, std::path::Path::new("maestro-v3.0.0.json")).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].canonical_composer, "Alban Berg");
    assert_eq!(rows[1].split, "test");
    assert_eq!(rows[1].year, 2004);
    let err = parse_maestro_metadata("{\"split\": 3}", std::path::Path::new("m.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("m.json") && err.contains("midi_filename"),
        "{err}"
    );
}

#[test]
fn guitarset_valid_jams() {
    let g = golden();
    let g = &g["guitarset"];
    let out = read_guitarset_jams(&fixtures().join("guitarset/annotation/03_BN3-119-G_solo.jams"))
        .unwrap();
    assert_eq!(out.notes.len() as u64, g["n_notes"].as_u64().unwrap());
    assert_eq!(out.duration_sec, g["duration"].as_f64().unwrap());
    let want: Vec<Note> = g["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(note_from_golden)
        .collect();
    assert_eq!(out.notes, want);
    assert!(out.notes.iter().all(|n| n.program == 24));
}

#[test]
fn guitarset_invalid_jams_is_rejected_with_the_file_name() {
    let p = fixtures().join("guitarset/annotation/00_BN1-129-Eb_comp.jams");
    let err = read_guitarset_jams(&p).unwrap_err();
    assert!(matches!(err, Error::InvalidAnnotation { .. }));
    let msg = err.to_string();
    assert!(msg.contains("00_BN1-129-Eb_comp.jams"), "{msg}");
    assert!(msg.contains("file_metadata"), "{msg}");
    // Other malformed inputs are errors too, never panics.
    for bad in [
        "",
        "[]",
        "{\"file_metadata\": {\"duration\": 1.0}}",
        "{\"file_metadata\": {}}",
    ] {
        assert!(guitarset_notes_from_jams(bad, &p).is_err(), "{bad:?}");
    }
}

#[test]
fn guitarset_dense_data_and_rounding() {
    let jams = r#"{"file_metadata": {"duration": 3.0}, "annotations": [
      {"namespace": "note_midi", "data": {"time": [0.0, 1.0, 2.0], "duration": [0.5, 0.5, 0.001],
        "value": [60.5, 61.5, 40.2], "confidence": [null, null, null]}},
      {"namespace": "note_midi", "data": [{"time": 0.25, "duration": 0.5, "value": 64.0, "confidence": 0.9}]},
      {"namespace": "pitch_contour", "data": [{"time": 0.0, "duration": 0.0, "value": 61.0, "confidence": null}]}
    ]}"#;
    let out = guitarset_notes_from_jams(jams, std::path::Path::new("x.jams")).unwrap();
    let pitches: Vec<u8> = out.notes.iter().map(|n| n.pitch).collect();
    // Half to even like Python's round(): 60.5 -> 60, 61.5 -> 62.
    assert_eq!(pitches, vec![60, 62, 40]);
    // A 1 ms note is stretched to 10 ms.
    assert_eq!(out.notes[2].offset, 2.0 + 0.01);
}

#[test]
fn slakh_track00007_with_tempo_changes() {
    // Four set_tempo events in the conductor track; default options.
    let g = golden();
    let bytes =
        std::fs::read(fixtures().join("slakh/babyslakh_16k/Track00007/MIDI/S00.mid")).unwrap();
    let out = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    check_summary(
        "Track00007 S00",
        &out.notes,
        out.length_sec,
        &g["track00007_s00_default"],
    );
}
