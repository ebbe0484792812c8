//! Hostile inputs: mutated fixture MIDI bytes and random token sequences must give errors or
//! well-formed results, never panics.

mod common;

use amt_symbolic::{
    DecodeErrorKind, MidiToNotesConfig, Token, decode_tokens, merge_segments, midi_to_notes,
};
use proptest::prelude::*;

/// Small deterministic generator (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_fixture_midi_never_panics() {
    let fx = common::fixtures();
    let files = [
        "slakh/babyslakh_16k/Track00001/MIDI/S03.mid",
        "slakh/babyslakh_16k/Track00001/all_src.mid",
        "slakh/babyslakh_16k/Track00007/MIDI/S00.mid",
    ];
    let configs = [
        MidiToNotesConfig::default(),
        MidiToNotesConfig {
            force_all_program_to: Some(0),
            ch_9_as_drum: true,
            ..MidiToNotesConfig::default()
        },
    ];
    let (mut ok, mut err) = (0, 0);
    for (fi, f) in files.iter().enumerate() {
        let original = std::fs::read(fx.join(f)).unwrap();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (fi as u64 + 1));
        for case in 0..120 {
            let mut b = original.clone();
            match case % 4 {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let i = rng.below(b.len());
                        b[i] ^= 1 << rng.below(8);
                    }
                }
                1 => b.truncate(rng.below(b.len())),
                2 => {
                    // Corrupt the header and first track header region.
                    let i = rng.below(b.len().min(30));
                    b[i] = rng.next() as u8;
                }
                _ => {
                    let i = rng.below(b.len());
                    let junk: Vec<u8> = (0..1 + rng.below(16)).map(|_| rng.next() as u8).collect();
                    b.splice(i..i, junk);
                }
            }
            for cfg in &configs {
                match midi_to_notes(&b, cfg) {
                    Ok(out) => {
                        ok += 1;
                        assert!(out.length_sec.is_finite() && out.length_sec >= 0.0);
                        for n in &out.notes {
                            assert!(n.pitch < 128 && n.onset.is_finite() && n.offset >= n.onset);
                        }
                        assert!(out.notes.windows(2).all(|w| w[0].onset <= w[1].onset));
                    }
                    Err(e) => {
                        err += 1;
                        assert!(!e.to_string().is_empty());
                    }
                }
            }
        }
    }
    // Both outcomes occur, so the mutations exercise the parser and the note logic.
    assert!(ok > 50 && err > 20, "ok {ok}, err {err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn random_tokens_decode_without_panic(
        tokens in prop::collection::vec(0u16..700, 0..300),
        start in 0u32..2000,
    ) {
        let start = f64::from(start) * 32767.0 / 16000.0;
        let seg = decode_tokens(&tokens, start);
        let missing_tie = seg.errors.get(DecodeErrorKind::MissingTie);
        prop_assert!(missing_tie <= 1);
        // Every token read was used, ignored, or counted as exactly one error.
        prop_assert_eq!(
            seg.tokens_read as u64,
            seg.tokens_used as u64 + seg.tokens_ignored as u64 + seg.errors.total() - missing_tie
        );
        prop_assert!(seg.tokens_read <= tokens.len());
        if missing_tie == 1 {
            prop_assert!(seg.note_events.is_empty() && seg.ties.is_empty());
        }
        // Note events: one per used pitch/drum token; none before the segment start.
        for e in &seg.note_events {
            prop_assert!(e.time >= (start * 100.0).round_ties_even() / 100.0);
        }
    }

    #[test]
    fn random_segments_merge_to_valid_notes(
        rows in prop::collection::vec(prop::collection::vec(prop_oneof![
            3 => 3u16..600,
            1 => Just(339u16),
        ], 0..120), 1..6),
    ) {
        let segs: Vec<_> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| decode_tokens(r as &[Token], i as f64 * 32767.0 / 16000.0))
            .collect();
        let per_segment: u64 = segs.iter().map(|s| s.errors.total()).sum();
        let (notes, errors) = merge_segments(&segs);
        // Merged counts include every segment's counts plus merge-time kinds only.
        let merge_only = errors.get(DecodeErrorKind::MergingSegmentTie)
            + errors.get(DecodeErrorKind::OnsetNotFound)
            + errors.get(DecodeErrorKind::LongNote);
        prop_assert_eq!(errors.total(), per_segment + merge_only);
        for n in &notes {
            prop_assert!(n.offset > n.onset || n.is_drum);
            prop_assert!(n.offset - n.onset <= 10.0 + 1e-9);
        }
    }
}

#[test]
fn a_truncated_file_is_an_error_wherever_it_is_cut() {
    let fx = common::fixtures();
    let original = std::fs::read(fx.join("slakh/babyslakh_16k/Track00001/all_src.mid")).unwrap();
    let cfg = MidiToNotesConfig::default();
    assert!(midi_to_notes(&original, &cfg).is_ok());
    // Every cut after the header chunk: mid-track, mid-event, or between two tracks.
    for cut in (14..original.len()).step_by(7) {
        let err = midi_to_notes(&original[..cut], &cfg).unwrap_err();
        assert!(
            matches!(err, amt_symbolic::Error::TruncatedMidi(_)),
            "cut at {cut}: {err}"
        );
    }
    // A chunk length past the end of the file, with every byte of the body present.
    let mut long = original.clone();
    let first_track = 14;
    assert_eq!(&long[first_track..first_track + 4], b"MTrk");
    let len = u32::from_be_bytes(long[first_track + 4..first_track + 8].try_into().unwrap());
    long[first_track + 4..first_track + 8].copy_from_slice(&(len + 1_000_000).to_be_bytes());
    let err = midi_to_notes(&long, &cfg).unwrap_err().to_string();
    assert!(
        err.contains("truncated") && err.contains("declares"),
        "{err}"
    );
}

#[test]
fn as_written_keeps_every_note_at_its_exact_time() {
    use amt_symbolic::{Note, notes_to_midi};
    let n = |onset: f64, offset: f64, pitch: u8| Note {
        is_drum: false,
        program: 0,
        onset,
        offset,
        pitch,
        velocity: 1,
    };
    // Overlapping same-pitch notes, a duplicate, a 4 ms note and an off-grid onset: the
    // training rules would trim, dedup, lengthen and round them.
    let written = vec![
        n(0.0, 1.0, 60),
        n(0.5, 1.5, 60),
        n(2.0, 2.5, 62),
        n(2.0, 2.5, 62),
        n(3.0, 3.004, 64),
        n(3.2373, 3.5, 65),
    ];
    let bytes = notes_to_midi(&written).unwrap();
    let read = midi_to_notes(&bytes, &MidiToNotesConfig::as_written(false))
        .unwrap()
        .notes;
    assert_eq!(read.len(), written.len());
    for (a, b) in read.iter().zip(&written) {
        // The writer's tick grid is 1/960 s at 120 bpm: exact up to that.
        assert!((a.onset - b.onset).abs() < 6e-4, "{a:?} vs {b:?}");
        assert!((a.offset - b.offset).abs() < 6e-4, "{a:?} vs {b:?}");
        assert_eq!(a.pitch, b.pitch);
    }
    let trained = midi_to_notes(&bytes, &MidiToNotesConfig::default())
        .unwrap()
        .notes;
    assert!(
        trained.len() < written.len(),
        "the training rules drop the duplicate"
    );
}
