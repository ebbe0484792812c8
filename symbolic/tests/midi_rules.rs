//! One test per midi2note rule, on tiny MIDI files built here. With 50 ticks per beat and the
//! default tempo (500000 us/beat) one tick is 10 ms.

mod common;

use amt_symbolic::{Error, MidiToNotesConfig, midi_to_notes};
use common::{Ev, brief, build_midi};

const TPB: u16 = 50;

fn raw() -> MidiToNotesConfig {
    MidiToNotesConfig {
        trim_overlap: false,
        ..MidiToNotesConfig::default()
    }
}

#[test]
fn running_status_and_velocity_zero_note_off() {
    // Hand-written bytes: one format-0 track using running status for three messages.
    let mut trk = vec![
        0x00, 0xC0, 0x05, // program 5, ch 0
        0x00, 0x90, 60, 100, // note on 60
        0x00, 64, 100, // running status: note on 64
        100, 60, 0, // running status: note on 60 vel 0 = off, at 1.0 s
        50, 64, 0, // off 64 at 1.5 s
        0x00, 0xFF, 0x2F, 0x00,
    ];
    let mut bytes = b"MThd\0\0\0\x06\0\0\0\x01\0\x32MTrk".to_vec();
    bytes.extend_from_slice(&(trk.len() as u32).to_be_bytes());
    bytes.append(&mut trk);
    let out = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(0.0, 1.0, 60, 5, false), (0.0, 1.5, 64, 5, false)]
    );
    assert!(out.notes.iter().all(|n| n.velocity == 1));
    assert_eq!(out.length_sec, 1.5);
    assert_eq!(out.program_state[0], Some(5));
}

#[test]
fn tempo_change_in_another_track_applies_to_all_tracks() {
    let conductor = vec![(100, Ev::Tempo(1_000_000))]; // from 1.0 s on, 20 ms per tick
    let music = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::On(0, 60, 90)),
        (150, Ev::On(0, 62, 90)), // 1.0 + 50 * 0.02 = 2.0 s
        (50, Ev::Off(0, 60)),     // tick 200 -> 3.0 s
        (100, Ev::On(0, 62, 0)),  // tick 300 -> 5.0 s
    ];
    let bytes = build_midi(TPB, &[conductor, music]);
    let out = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(0.0, 3.0, 60, 0, false), (2.0, 5.0, 62, 0, false)]
    );
    assert_eq!(out.length_sec, 5.0);
}

#[test]
fn length_is_last_message_of_any_track() {
    let a = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::On(0, 60, 90)),
        (100, Ev::Off(0, 60)),
    ];
    let b = vec![(400, Ev::Name("late"))]; // 4.0 s
    let out = midi_to_notes(&build_midi(TPB, &[a, b]), &MidiToNotesConfig::default()).unwrap();
    assert_eq!(out.length_sec, 4.0);
}

#[test]
fn sustain_pedal_extends_until_release() {
    let t = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::On(0, 60, 90)),
        (50, Ev::Cc(0, 64, 127)), // pedal down 0.5 s
        (50, Ev::Off(0, 60)),     // 1.0 s: sustained
        (100, Ev::Cc(0, 64, 0)),  // 2.0 s: release ends it
        (50, Ev::On(0, 62, 90)),  // 2.5 s
        (50, Ev::Off(0, 62)),     // 3.0 s: pedal up, ends now
    ];
    let bytes = build_midi(TPB, &[t]);
    let with = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    assert_eq!(
        brief(&with.notes),
        vec![(0.0, 2.0, 60, 0, false), (2.5, 3.0, 62, 0, false)]
    );
    let cfg = MidiToNotesConfig {
        ignore_pedal: true,
        ..MidiToNotesConfig::default()
    };
    let without = midi_to_notes(&bytes, &cfg).unwrap();
    assert_eq!(
        brief(&without.notes),
        vec![(0.0, 1.0, 60, 0, false), (2.5, 3.0, 62, 0, false)]
    );
}

#[test]
fn pedal_values_below_64_release_and_other_channels_unaffected() {
    let t = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::Program(1, 40)),
        (0, Ev::Cc(0, 64, 64)), // 64 counts as down
        (0, Ev::On(0, 60, 90)),
        (0, Ev::On(1, 70, 90)),
        (100, Ev::Off(0, 60)),
        (0, Ev::Off(1, 70)),      // channel 1 has no pedal: ends at 1.0 s
        (100, Ev::Cc(0, 64, 63)), // 63 releases at 2.0 s
    ];
    let out = midi_to_notes(&build_midi(TPB, &[t]), &MidiToNotesConfig::default()).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(0.0, 2.0, 60, 0, false), (0.0, 1.0, 70, 40, false)]
    );
}

/// YourMT3 skips every second matching note when several notes of one pitch are active while
/// the pedal is down; here all of them are sustained.
#[test]
fn sustain_moves_every_matching_note_none_skipped() {
    let t = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::Cc(0, 64, 127)),
        (0, Ev::On(0, 60, 90)),
        (50, Ev::On(0, 60, 90)), // second 60 while the first is still active
        (50, Ev::On(0, 60, 90)), // third, at 1.0 s
        (50, Ev::Off(0, 60)),    // 1.5 s: all three go to the sustained list
        (50, Ev::Cc(0, 64, 0)),  // 2.0 s: all three end
        (100, Ev::Name("end")),  // file ends at 3.0 s
    ];
    let out = midi_to_notes(&build_midi(TPB, &[t]), &raw()).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![
            (0.0, 2.0, 60, 0, false),
            (0.5, 2.0, 60, 0, false),
            (1.0, 2.0, 60, 0, false)
        ]
    );
    // With trimming (the default) they become consecutive notes.
    let out = midi_to_notes(
        &build_midi(
            TPB,
            &[vec![
                (0, Ev::Program(0, 0)),
                (0, Ev::Cc(0, 64, 127)),
                (0, Ev::On(0, 60, 90)),
                (50, Ev::On(0, 60, 90)),
                (50, Ev::Off(0, 60)),
                (50, Ev::Cc(0, 64, 0)),
            ]],
        ),
        &MidiToNotesConfig::default(),
    )
    .unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(0.0, 0.5, 60, 0, false), (0.5, 1.5, 60, 0, false)]
    );
}

#[test]
fn note_off_without_pedal_ends_only_the_oldest() {
    let t = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::On(0, 60, 90)),
        (50, Ev::On(0, 60, 90)),
        (50, Ev::Off(0, 60)), // 1.0 s ends the 0.0 note
        (50, Ev::Off(0, 60)), // 1.5 s ends the 0.5 note
        (50, Ev::Off(0, 60)), // stray note-off: ignored
    ];
    let out = midi_to_notes(&build_midi(TPB, &[t]), &raw()).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(0.0, 1.0, 60, 0, false), (0.5, 1.5, 60, 0, false)]
    );
}

#[test]
fn channel_9_as_drum_pins_program_and_gives_10ms_notes() {
    let t = vec![
        (0, Ev::Program(0, 33)),
        (0, Ev::Program(9, 5)), // ignored: channel 9 is pinned to drums
        (100, Ev::On(9, 36, 100)),
        (0, Ev::On(0, 40, 100)),
        (30, Ev::Off(9, 36)),
        (0, Ev::Off(0, 40)),
    ];
    let bytes = build_midi(TPB, &[t]);
    let cfg = MidiToNotesConfig {
        ch_9_as_drum: true,
        ..MidiToNotesConfig::default()
    };
    let out = midi_to_notes(&bytes, &cfg).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(1.0, 1.3, 40, 33, false), (1.0, 1.01, 36, 128, true)]
    );
    assert_eq!(out.program_state[9], Some(128));
    // Without the option channel 9 is a melodic channel with program 5.
    let out = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![(1.0, 1.3, 36, 5, false), (1.0, 1.3, 40, 33, false)]
    );
}

#[test]
fn force_all_drum_makes_every_note_a_drum_hit() {
    let t = vec![
        (0, Ev::Program(0, 0)),
        (0, Ev::On(0, 38, 80)),
        (100, Ev::Off(0, 38)),
    ];
    let cfg = MidiToNotesConfig {
        force_all_drum: true,
        ..MidiToNotesConfig::default()
    };
    let out = midi_to_notes(&build_midi(TPB, &[t]), &cfg).unwrap();
    assert_eq!(brief(&out.notes), vec![(0.0, 0.01, 38, 128, true)]);
}

#[test]
fn track_name_pins_program_case_insensitively() {
    let voice = vec![
        (0, Ev::Name("SINGING voice")),
        (0, Ev::Program(2, 0)),
        (0, Ev::On(2, 67, 90)),
        (100, Ev::Program(2, 10)), // ignored: pinned
        (0, Ev::On(2, 69, 90)),
        (50, Ev::Off(2, 67)),
        (0, Ev::Off(2, 69)),
    ];
    let piano = vec![
        (0, Ev::Name("Piano")),
        (0, Ev::Program(0, 1)),
        (0, Ev::On(0, 60, 90)),
        (100, Ev::Off(0, 60)),
    ];
    let bytes = build_midi(TPB, &[voice, piano]);
    let mut cfg = MidiToNotesConfig::default();
    cfg.track_name_to_program
        .insert("Singing Voice".to_string(), 100);
    let out = midi_to_notes(&bytes, &cfg).unwrap();
    assert_eq!(
        brief(&out.notes),
        vec![
            (0.0, 1.0, 60, 1, false),
            (0.0, 1.5, 67, 100, false),
            (1.0, 1.5, 69, 100, false)
        ]
    );
    // Without pinning the program changes to 10 mid-track.
    let out = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    let progs: Vec<u8> = out.notes.iter().map(|n| n.program).collect();
    assert_eq!(progs, vec![0, 1, 10]);
}

#[test]
fn missing_program_is_an_error_unless_forced() {
    let t = vec![(30, Ev::On(3, 60, 90)), (100, Ev::Off(3, 60))];
    let bytes = build_midi(TPB, &[t]);
    match midi_to_notes(&bytes, &MidiToNotesConfig::default()) {
        Err(Error::MissingProgram { channel: 3, time }) => assert!((time - 0.3).abs() < 1e-9),
        other => panic!("expected MissingProgram, got {other:?}"),
    }
    let cfg = MidiToNotesConfig {
        force_all_program_to: Some(0),
        ..MidiToNotesConfig::default()
    };
    let out = midi_to_notes(&bytes, &cfg).unwrap();
    assert_eq!(brief(&out.notes), vec![(0.3, 1.3, 60, 0, false)]);
}

#[test]
fn end_of_file_closes_open_notes_after_10ms() {
    let t = vec![
        (0, Ev::Program(0, 0)),
        (100, Ev::On(0, 60, 90)), // never released
        (0, Ev::Cc(0, 64, 127)),
        (0, Ev::On(0, 64, 90)),
        (10, Ev::Off(0, 64)),     // sustained until the end
        (390, Ev::On(0, 72, 90)), // at the very end (5.0 s)
    ];
    let out = midi_to_notes(&build_midi(TPB, &[t]), &MidiToNotesConfig::default()).unwrap();
    // The 5.0 s note gets min(end, 5.01) = 5.0: zero length, dropped by trimming.
    assert_eq!(
        brief(&out.notes),
        vec![(1.0, 1.01, 60, 0, false), (1.0, 1.01, 64, 0, false)]
    );
    assert_eq!(out.length_sec, 5.0);
}

#[test]
fn post_processing_options() {
    // 100 ticks per beat: 5 ms per tick, so quantisation shows.
    let t = vec![
        (0, Ev::Program(0, 0)),
        (3, Ev::On(0, 60, 57)), // 0.015 s
        (1, Ev::On(0, 62, 90)), // 0.020 s
        (1, Ev::Off(0, 62)),    // 0.025 s: a 5 ms note
        (200, Ev::Off(0, 60)),  // 1.025 s
        (0, Ev::On(0, 64, 90)),
        (100, Ev::Off(0, 64)),
        (0, Ev::On(0, 64, 90)), // overlapping repeat: on at 1.525 before the first ends
        (0, Ev::On(0, 64, 90)),
    ];
    let bytes = build_midi(100, &[t]);
    let none = MidiToNotesConfig {
        binary_velocity: false,
        quantize: false,
        trim_overlap: false,
        fix_offset: false,
        ..MidiToNotesConfig::default()
    };
    let out = midi_to_notes(&bytes, &none).unwrap();
    let n60 = out.notes.iter().find(|n| n.pitch == 60).unwrap();
    assert_eq!(n60.velocity, 57);
    assert!((n60.onset - 0.015).abs() < 1e-12);
    let n62 = out.notes.iter().find(|n| n.pitch == 62).unwrap();
    assert!((n62.offset - n62.onset - 0.005).abs() < 1e-12);

    // fix_offset alone: the 5 ms note gets exactly onset + 10 ms.
    let fix_only = MidiToNotesConfig {
        quantize: false,
        trim_overlap: false,
        ..MidiToNotesConfig::default()
    };
    let out = midi_to_notes(&bytes, &fix_only).unwrap();
    let n62 = out.notes.iter().find(|n| n.pitch == 62).unwrap();
    assert_eq!(n62.offset, n62.onset + 0.01);

    let all = midi_to_notes(&bytes, &MidiToNotesConfig::default()).unwrap();
    for n in &all.notes {
        assert_eq!(n.velocity, 1);
        assert_eq!((n.onset * 100.0).round() / 100.0, n.onset);
        assert!(n.offset - n.onset >= 0.0099, "{n:?}");
    }
    // Two notes 64 open at the end plus the finished one: trimmed to non-overlapping.
    let mut p64: Vec<_> = all.notes.iter().filter(|n| n.pitch == 64).collect();
    p64.sort_by(|a, b| a.onset.total_cmp(&b.onset));
    for w in p64.windows(2) {
        assert!(w[0].offset <= w[1].onset);
    }
}

#[test]
fn invalid_files_are_errors() {
    assert!(midi_to_notes(b"not a midi file", &MidiToNotesConfig::default()).is_err());
    let t = vec![(0, Ev::Program(0, 0))];
    let mut bytes = build_midi(TPB, &[t.clone(), t]);
    bytes[9] = 2; // format 2
    assert!(matches!(
        midi_to_notes(&bytes, &MidiToNotesConfig::default()),
        Err(Error::UnsupportedMidiFormat)
    ));
}

#[test]
fn config_default_is_yourmt3_and_serialises_stably() {
    let d = MidiToNotesConfig::default();
    assert!(d.binary_velocity && d.trim_overlap && d.fix_offset && d.quantize);
    assert!(!d.ch_9_as_drum && !d.force_all_drum && !d.ignore_pedal);
    assert_eq!((d.minimum_offset_sec, d.drum_offset_sec), (0.01, 0.01));
    assert_eq!(d.force_all_program_to, None);
    let json = serde_json::to_string(&d).unwrap();
    let back: MidiToNotesConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
    // Missing keys take defaults; unknown keys are rejected (a typo must not hash silently).
    let partial: MidiToNotesConfig = serde_json::from_str(r#"{"ignore_pedal": true}"#).unwrap();
    assert!(partial.ignore_pedal && partial.quantize);
    assert!(serde_json::from_str::<MidiToNotesConfig>(r#"{"ignore_pedals": true}"#).is_err());
}
