//! Program and drum vocabularies (YourMT3 `config/vocabulary.py`) and the 596-token codec
//! (`utils/event_codec.py`, codec "mt3" with 206 shift steps and no task tokens).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::note::DRUM_PROGRAM;

/// Token id type. All ids are below [`VOCAB_SIZE`].
pub type Token = u16;

pub const PAD: Token = 0;
pub const EOS: Token = 1;
pub const UNK: Token = 2;
/// Number of shift values (0..=205, 10 ms ticks, absolute within the segment).
pub const MAX_SHIFT_STEPS: u16 = 206;
pub const SHIFT_BASE: Token = 3;
pub const PITCH_BASE: Token = SHIFT_BASE + MAX_SHIFT_STEPS; // 209
pub const VELOCITY_BASE: Token = PITCH_BASE + 128; // 337
pub const TIE: Token = VELOCITY_BASE + 2; // 339
pub const PROGRAM_BASE: Token = TIE + 1; // 340
pub const DRUM_BASE: Token = PROGRAM_BASE + 128; // 468
pub const VOCAB_SIZE: usize = (DRUM_BASE + 128) as usize; // 596

/// One codec event (YourMT3 `Event{type, value}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Event {
    Pad,
    Eos,
    Unk,
    /// Ticks of 10 ms from the segment start (absolute, not a delta).
    Shift(u16),
    Pitch(u8),
    /// 0 = note-off, 1 = note-on.
    Velocity(u8),
    Tie,
    Program(u8),
    Drum(u8),
}

impl Event {
    /// The token id, if the event is in the vocabulary.
    pub fn token(self) -> Result<Token> {
        let t = match self {
            Event::Pad => PAD,
            Event::Eos => EOS,
            Event::Unk => UNK,
            Event::Shift(v) if v < MAX_SHIFT_STEPS => SHIFT_BASE + v,
            Event::Pitch(p) if p < 128 => PITCH_BASE + Token::from(p),
            Event::Velocity(v) if v < 2 => VELOCITY_BASE + Token::from(v),
            Event::Tie => TIE,
            Event::Program(p) if p < 128 => PROGRAM_BASE + Token::from(p),
            Event::Drum(p) if p < 128 => DRUM_BASE + Token::from(p),
            other => {
                return Err(Error::Unencodable {
                    event: other.to_string(),
                });
            }
        };
        Ok(t)
    }

    /// The event of a token id; `None` for ids outside the vocabulary.
    pub fn from_token(t: Token) -> Option<Event> {
        Some(match t {
            PAD => Event::Pad,
            EOS => Event::Eos,
            UNK => Event::Unk,
            t if t < PITCH_BASE => Event::Shift(t - SHIFT_BASE),
            t if t < VELOCITY_BASE => Event::Pitch((t - PITCH_BASE) as u8),
            t if t < TIE => Event::Velocity((t - VELOCITY_BASE) as u8),
            TIE => Event::Tie,
            t if t < DRUM_BASE => Event::Program((t - PROGRAM_BASE) as u8),
            t if (t as usize) < VOCAB_SIZE => Event::Drum((t - DRUM_BASE) as u8),
            _ => return None,
        })
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Pad => write!(f, "PAD"),
            Event::Eos => write!(f, "EOS"),
            Event::Unk => write!(f, "UNK"),
            Event::Shift(v) => write!(f, "shift({v})"),
            Event::Pitch(v) => write!(f, "pitch({v})"),
            Event::Velocity(v) => write!(f, "velocity({v})"),
            Event::Tie => write!(f, "tie"),
            Event::Program(v) => write!(f, "program({v})"),
            Event::Drum(v) => write!(f, "drum({v})"),
        }
    }
}

/// Human-readable name of a token for debugging output: `shift(12)`, `pitch(60)`, `EOS`, ...;
/// ids outside the vocabulary read `invalid(700)`.
pub fn token_name(t: Token) -> String {
    match Event::from_token(t) {
        Some(e) => e.to_string(),
        None => format!("invalid({t})"),
    }
}

/// MT3_FULL_PLUS program classes; the first program of a class is its encoded value.
pub const MT3_FULL_PLUS: &[(&str, &[u8])] = &[
    ("Acoustic Piano", &[0, 1, 3, 6, 7]),
    ("Electric Piano", &[2, 4, 5]),
    ("Chromatic Percussion", &[8, 9, 10, 11, 12, 13, 14, 15]),
    ("Organ", &[16, 17, 18, 19, 20, 21, 22, 23]),
    ("Acoustic Guitar", &[24, 25]),
    ("Clean Electric Guitar", &[26, 27, 28]),
    ("Distorted Electric Guitar", &[29, 30, 31]),
    ("Acoustic Bass", &[32, 35]),
    ("Electric Bass", &[33, 34, 36, 37, 38, 39]),
    ("Violin", &[40]),
    ("Viola", &[41]),
    ("Cello", &[42]),
    ("Contrabass", &[43]),
    ("Orchestral Harp", &[46]),
    ("Timpani", &[47]),
    ("String Ensemble", &[48, 49, 44, 45]),
    ("Synth Strings", &[50, 51]),
    ("Choir and Voice", &[52, 53, 54]),
    ("Orchestra Hit", &[55]),
    ("Trumpet", &[56, 59]),
    ("Trombone", &[57]),
    ("Tuba", &[58]),
    ("French Horn", &[60]),
    ("Brass Section", &[61, 62, 63]),
    ("Soprano/Alto Sax", &[64, 65]),
    ("Tenor Sax", &[66]),
    ("Baritone Sax", &[67]),
    ("Oboe", &[68]),
    ("English Horn", &[69]),
    ("Bassoon", &[70]),
    ("Clarinet", &[71]),
    ("Pipe", &[73, 72, 74, 75, 76, 77, 78, 79]),
    ("Synth Lead", &[80, 81, 82, 83, 84, 85, 86, 87]),
    ("Synth Pad", &[88, 89, 90, 91, 92, 93, 94, 95]),
    ("Singing Voice", &[100]),
    ("Singing Voice (chorus)", &[101]),
];

/// GM_INSTR_CLASS_PLUS: the 12 program groups of the multi-channel task (channel = position).
pub const GM_INSTR_CLASS_PLUS: &[(&str, &[u8])] = &[
    ("Piano", &[0, 1, 2, 3, 4, 5, 6, 7]),
    ("Chromatic Percussion", &[8, 9, 10, 11, 12, 13, 14, 15]),
    ("Organ", &[16, 17, 18, 19, 20, 21, 22, 23]),
    ("Guitar", &[24, 25, 26, 27, 28, 29, 30, 31]),
    ("Bass", &[32, 33, 34, 35, 36, 37, 38, 39]),
    (
        "Strings",
        &[
            40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55,
        ],
    ),
    ("Brass", &[56, 57, 58, 59, 60, 61, 62, 63]),
    ("Reed", &[64, 65, 66, 67, 68, 69, 70, 71]),
    ("Pipe", &[72, 73, 74, 75, 76, 77, 78, 79]),
    ("Synth Lead", &[80, 81, 82, 83, 84, 85, 86, 87]),
    ("Synth Pad", &[88, 89, 90, 91, 92, 93, 94, 95]),
    ("Singing Voice", &[100, 101]),
];

/// GM_DRUM_NOTES; the first pitch of a class is its encoded value.
pub const GM_DRUM_NOTES: &[(&str, &[u8])] = &[
    ("Kick Drum", &[36, 35]),
    ("Snare X-stick", &[37, 2]),
    ("Snare Drum", &[38, 40]),
    ("Closed Hi-Hat", &[42, 44, 22]),
    ("Open Hi-Hat", &[46, 26]),
    ("Cowbell", &[56]),
    ("High Floor Tom", &[43]),
    ("Low Floor Tom", &[41]),
    ("Low Tom", &[45]),
    ("Low-Mid Tom", &[47]),
    ("Mid Tom", &[48]),
    ("Low Tom (Rim)", &[50]),
    ("Mid Tom (Rim)", &[58]),
    ("Ride", &[51]),
    ("Ride (Bell)", &[53]),
    ("Ride (Edge)", &[59]),
    ("Chinese Cymbal", &[52]),
    ("Crash Cymbal", &[49, 57]),
    ("Splash Cymbal", &[55]),
];

/// Encoding-time remap table value -> first value of its class (identity where unmapped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remap([u8; 128]);

impl Remap {
    pub fn identity() -> Self {
        let mut t = [0u8; 128];
        for (i, v) in t.iter_mut().enumerate() {
            *v = i as u8;
        }
        Remap(t)
    }

    /// Later classes override earlier ones, as YourMT3's inverse-vocabulary dict does.
    pub fn from_classes(classes: &[(&str, &[u8])]) -> Self {
        let mut r = Self::identity();
        for (_, members) in classes {
            for &m in *members {
                if m < 128 {
                    r.0[usize::from(m)] = members[0];
                }
            }
        }
        r
    }

    pub fn apply(&self, v: u8) -> u8 {
        self.0.get(usize::from(v)).copied().unwrap_or(v)
    }
}

/// Channel of the multi-channel task for a note: 0-11 by GM_INSTR_CLASS_PLUS group, 12 drums;
/// `None` for programs outside every group (96-99, 102-127, 129), which YourMT3 drops.
pub fn gm_plus_channel(is_drum: bool, program: u8) -> Option<usize> {
    if is_drum || program == DRUM_PROGRAM {
        return Some(GM_INSTR_CLASS_PLUS.len());
    }
    GM_INSTR_CLASS_PLUS
        .iter()
        .position(|(_, members)| members.contains(&program))
}
