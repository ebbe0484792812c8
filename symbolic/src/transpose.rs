//! Transposing targets with pitch-shifted audio (YourMT3 shifts the audio but never the
//! targets, spec 11.1 item 1; we move both). Pitched notes move by the same semitones; drums
//! never do (they are drum tokens, not pitch tokens); a note pushed outside 0..=127 is dropped
//! and counted.

use crate::note::Note;
use crate::vocab::{DRUM_BASE, EOS, PAD, PITCH_BASE, TIE, Token, VELOCITY_BASE};

/// `notes` with every pitched note moved by `semitones`; the notes that would leave the
/// MIDI range are left out and counted.
pub fn transpose_notes(notes: &[Note], semitones: i32) -> (Vec<Note>, usize) {
    let mut dropped = 0;
    let out = notes
        .iter()
        .filter_map(|n| {
            if n.is_drum {
                return Some(*n);
            }
            let p = i32::from(n.pitch) + semitones;
            if (0..=127).contains(&p) {
                Some(Note {
                    pitch: p as u8,
                    ..*n
                })
            } else {
                dropped += 1;
                None
            }
        })
        .collect();
    (out, dropped)
}

/// One token row (a segment's target, or one channel of it) transposed: every pitch token
/// moves by `semitones`, one that would leave the range is removed with nothing else changed
/// (the program and velocity tokens before it only set state), and the row is PAD-filled back
/// to its length. Returns the row and the number of onsets removed (ties and offsets of those
/// notes are removed too, not counted again).
pub fn transpose_tokens(tokens: &[Token], semitones: i32) -> (Vec<Token>, usize) {
    let mut out = Vec::with_capacity(tokens.len());
    let mut dropped = 0;
    let mut in_ties = tokens.contains(&TIE);
    let mut velocity: Token = 1;
    for &t in tokens {
        if t == EOS || t == PAD {
            out.push(t);
            if t == EOS {
                break;
            }
            continue;
        }
        if t == TIE {
            in_ties = false;
        } else if (VELOCITY_BASE..TIE).contains(&t) {
            velocity = t - VELOCITY_BASE;
        } else if (PITCH_BASE..VELOCITY_BASE).contains(&t) {
            let p = i32::from(t - PITCH_BASE) + semitones;
            if !(0..=127).contains(&p) {
                if !in_ties && velocity > 0 {
                    dropped += 1;
                }
                continue;
            }
            out.push(PITCH_BASE + p as Token);
            continue;
        }
        debug_assert!(t < DRUM_BASE + 128);
        out.push(t);
    }
    out.resize(tokens.len(), PAD);
    (out, dropped)
}
