//! Law: notes on the 10 ms grid -> note events -> tokens of every evaluation segment -> decode ->
//! merge == the input notes after YourMT3's clean-up (trim overlaps, 10 ms minimum), for both
//! tasks. The multi-channel task additionally drops programs without a channel (96-99, 102-127).
//! Remapping is switched off so that any program survives; canonical programs survive with it on.

use amt_symbolic::vocab::gm_plus_channel;
use amt_symbolic::{
    Note, NoteEventList, Task, Token, decode_file, mix_notes, notes_to_midi, segment_start_times,
};
use proptest::prelude::*;

/// A note on the 10 ms grid: onset tick, duration ticks (<= 5 s), pitch, program, drum flag.
fn grid_note() -> impl Strategy<Value = Note> {
    (0u32..1500, 1u32..500, 0u8..128, 0u8..128, 0u8..10).prop_map(|(on, dur, pitch, prog, d)| {
        let is_drum = d == 0;
        let onset = f64::from(on) / 100.0;
        Note {
            is_drum,
            program: if is_drum { 128 } else { prog },
            onset,
            offset: if is_drum {
                onset + 0.01
            } else {
                f64::from(on + dur) / 100.0
            },
            pitch,
            velocity: 1,
        }
    })
}

/// Tokenise every evaluation segment of `notes`, decode and merge them back.
fn round_trip(task: &Task, notes: &[Note]) -> (Vec<Note>, usize, u64) {
    let list = NoteEventList::from_notes(notes).unwrap();
    let end = notes.iter().map(|n| n.offset).fold(0.0, f64::max);
    let starts = segment_start_times(end + 0.01);
    let mut rows: Vec<Vec<Token>> = Vec::new();
    let mut truncated = 0;
    for &s in &starts {
        let enc = task.encode_segment(&list, s).unwrap();
        truncated += enc.truncated;
        rows.push(enc.tokens);
    }
    let refs: Vec<&[Token]> = rows.iter().map(|r| r.as_slice()).collect();
    let (decoded, errors) = decode_file(task, &refs, &starts);
    (decoded, truncated, errors.total())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn mt3_full_plus_round_trip(notes in prop::collection::vec(grid_note(), 0..60)) {
        let expected = mix_notes([notes.clone()]);
        let task = Task::mt3_full_plus().without_remap();
        let (decoded, truncated, errors) = round_trip(&task, &expected);
        prop_assume!(truncated == 0);
        prop_assert_eq!(errors, 0);
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn mc13_full_plus_256_round_trip(notes in prop::collection::vec(grid_note(), 0..40)) {
        let task = Task::mc13_full_plus_256().without_remap();
        let input = mix_notes([notes]);
        let expected: Vec<Note> = input
            .iter()
            .copied()
            .filter(|n| gm_plus_channel(n.is_drum, n.program).is_some())
            .collect();
        let (decoded, truncated, errors) = round_trip(&task, &input);
        prop_assume!(truncated == 0);
        prop_assert_eq!(errors, 0);
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn canonical_programs_survive_training_remap(notes in prop::collection::vec(grid_note(), 0..40)) {
        let task = Task::mt3_full_plus();
        let canon: Vec<Note> = notes
            .into_iter()
            .map(|mut n| {
                if n.is_drum {
                    n.pitch = task.encoded_drum(n.pitch);
                } else {
                    n.program = task.encoded_program(n.program);
                }
                n
            })
            .collect();
        let expected = mix_notes([canon]);
        let (decoded, truncated, errors) = round_trip(&task, &expected);
        prop_assume!(truncated == 0);
        prop_assert_eq!(errors, 0);
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn written_midi_reads_back(notes in prop::collection::vec(grid_note(), 0..40)) {
        // 480 ticks per beat at 120 bpm: the 10 ms grid is exact (9.6 ticks is not, so compare
        // after the reader's 10 ms quantisation).
        // At most 8 programs + drums, so every program gets its own MIDI channel.
        let few: Vec<Note> = notes
            .into_iter()
            .map(|mut n| {
                if !n.is_drum {
                    n.program %= 8;
                }
                n
            })
            .collect();
        let expected = mix_notes([few]);
        let bytes = notes_to_midi(&expected).unwrap();
        let cfg = amt_symbolic::MidiToNotesConfig { ch_9_as_drum: true, ..Default::default() };
        let back = amt_symbolic::midi_to_notes(&bytes, &cfg).unwrap().notes;
        prop_assert_eq!(back.len(), expected.len());
        for (b, e) in back.iter().zip(&expected) {
            prop_assert_eq!((b.pitch, b.program, b.is_drum), (e.pitch, e.program, e.is_drum));
            prop_assert!((b.onset - e.onset).abs() < 1e-9);
            prop_assert!((b.offset - e.offset).abs() < 1e-9);
        }
    }
}

/// Real data: every note of the MAESTRO fixture and of the Slakh Track00001 mix survives
/// tokenisation of all evaluation segments and decoding, for both tasks. Drum offsets are not
/// compared (MIDI drums get `quantize(onset + 10 ms)`, the decoder `onset + 10 ms`, which
/// differ in the last float bit or, for half-tick onsets, by one tick).
#[test]
fn fixture_notes_round_trip_through_tokens() {
    let base = match std::env::var_os("AMT_SHARED") {
        Some(s) => std::path::PathBuf::from(s).join("fixtures"),
        None => std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    };
    let maestro = std::fs::read(
        base.join("maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi"),
    )
    .unwrap();
    let (maestro_notes, _) = amt_symbolic::datasets::maestro_notes(&maestro).unwrap();
    let slakh = amt_symbolic::datasets::SlakhTrack::open(
        base.join("slakh/slakh2100_flac_redux/train/Track00001"),
    )
    .unwrap()
    .notes(true)
    .unwrap()
    .notes;
    let key = |v: &[Note]| -> Vec<(bool, u8, u8, i64, i64)> {
        v.iter()
            .map(|n| {
                let off = if n.is_drum {
                    0
                } else {
                    (n.offset * 100.0).round() as i64
                };
                (
                    n.is_drum,
                    n.program,
                    n.pitch,
                    (n.onset * 100.0).round() as i64,
                    off,
                )
            })
            .collect()
    };
    for (name, notes) in [("maestro", maestro_notes), ("slakh", slakh)] {
        assert!(notes.len() > 3000);
        // The decoder's long-note guard cuts notes over 10 s to 10 ms (one error each).
        let long = notes.iter().filter(|n| n.offset - n.onset > 10.0).count() as u64;
        for task in [Task::mt3_full_plus(), Task::mc13_full_plus_256()] {
            let task = task.without_remap();
            let (decoded, truncated, errors) = round_trip(&task, &notes);
            let expected: Vec<Note> = notes
                .iter()
                .copied()
                .filter(|n| {
                    task.num_channels == 1 || gm_plus_channel(n.is_drum, n.program).is_some()
                })
                .map(|mut n| {
                    if n.offset - n.onset > 10.0 {
                        n.offset = n.onset + 0.01;
                    }
                    n
                })
                .collect();
            assert_eq!(truncated, 0, "{name} {:?}", task.name);
            assert_eq!(errors, long, "{name} {:?}", task.name);
            let (d, e) = (key(&decoded), key(&expected));
            assert_eq!(d.len(), e.len(), "{name} {:?}", task.name);
            if let Some(i) = (0..d.len()).find(|&i| d[i] != e[i]) {
                panic!(
                    "{name} {:?}: note {i}: decoded {:?}, expected {:?}",
                    task.name, d[i], e[i]
                );
            }
        }
    }
}

/// Targets move with pitch-shifted audio: a segment's tokens transposed by +2 / -3 decode to
/// the transposed notes; drums stay; notes pushed out of 0..=127 are dropped and counted (in
/// the tokens as in the notes); multi-channel rows transpose channel by channel the same way.
#[test]
fn transposed_tokens_decode_to_transposed_notes() {
    use amt_symbolic::{transpose_notes, transpose_tokens};
    let n = |program: u8, is_drum: bool, pitch: u8, onset: f64, offset: f64| Note {
        is_drum,
        program,
        onset,
        offset,
        pitch,
        velocity: 1,
    };
    let notes = mix_notes([vec![
        n(0, false, 60, 0.10, 0.50),
        n(0, false, 126, 0.20, 0.60),
        n(33, false, 1, 0.30, 1.20),
        n(128, true, 36, 0.40, 0.41),
        n(40, false, 80, 0.70, 1.90),
    ]]);
    for task in [
        Task::mt3_full_plus().without_remap(),
        Task::mc13_full_plus_256().without_remap(),
    ] {
        for s in [2, -3] {
            let list = NoteEventList::from_notes(&notes).unwrap();
            let enc = task.encode_segment(&list, 0.0).unwrap();
            let decode = |rows: &[Vec<Token>]| {
                mix_notes(rows.iter().map(|r| {
                    let refs: Vec<&[Token]> = vec![r.as_slice()];
                    decode_file(&task, &refs, &[0.0]).0
                }))
            };
            let plain: Vec<Vec<Token>> =
                enc.tokens.chunks(enc.max_len).map(|r| r.to_vec()).collect();
            // The notes the untransposed tokens give back, moved: what the shifted audio holds.
            let (want, want_dropped) = transpose_notes(&decode(&plain), s);
            assert_eq!(want_dropped, 1, "126 + 2 and 1 - 3 leave the range");
            let mut dropped = 0;
            let mut rows: Vec<Vec<Token>> = Vec::new();
            for row in enc.tokens.chunks(enc.max_len) {
                let (t, d) = transpose_tokens(row, s);
                assert_eq!(t.len(), row.len());
                dropped += d;
                rows.push(t);
            }
            assert_eq!(dropped, want_dropped);
            assert_eq!(decode(&rows), want, "{:?} {s}", task.name);
        }
    }
}
