//! `Note` and the list clean-ups YourMT3 applies everywhere (sort, trim overlaps, fix offsets).
//!
//! Reference: `amt/src/utils/note_event_dataclasses.py` (`Note`) and `amt/src/utils/note2event.py`
//! (`validate_notes`, `trim_overlapping_notes`, `mix_notes`) at luck058/YourMT3 `710a835`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Program number used for drum notes.
pub const DRUM_PROGRAM: u8 = 128;
/// Program number of an unannotated stem (accompaniment).
pub const UNANNOTATED_PROGRAM: u8 = 129;
/// Singing voice (melody).
pub const SINGING_PROGRAM: u8 = 100;
/// Singing voice (chorus).
pub const SINGING_CHORUS_PROGRAM: u8 = 101;
/// Shortest non-drum note and the drum note length, in seconds (YourMT3 `MINIMUM_OFFSET_TIME`).
pub const MINIMUM_OFFSET_SEC: f64 = 0.01;

/// One note with absolute times in seconds (YourMT3 `Note`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub is_drum: bool,
    /// 0-127 GM program, 128 drums, 129 unannotated, 100/101 singing.
    pub program: u8,
    pub onset: f64,
    pub offset: f64,
    pub pitch: u8,
    /// Binary (0/1) after `binary_velocity`, which is YourMT3's default everywhere.
    pub velocity: u8,
}

impl Note {
    /// YourMT3's note order: (onset, is_drum, program, velocity, pitch).
    pub fn order(&self, other: &Self) -> Ordering {
        self.onset
            .total_cmp(&other.onset)
            .then(self.is_drum.cmp(&other.is_drum))
            .then(self.program.cmp(&other.program))
            .then(self.velocity.cmp(&other.velocity))
            .then(self.pitch.cmp(&other.pitch))
    }
}

/// Python's `round()` (half to even) on `x * 100`, divided back: the 10 ms quantisation.
pub fn quantize_10ms(x: f64) -> f64 {
    (x * 100.0).round_ties_even() / 100.0
}

/// Stable sort by (onset, is_drum, program, velocity, pitch).
pub fn sort_notes(notes: &mut [Note]) {
    notes.sort_by(Note::order);
}

/// Per (pitch, program, is_drum): clip a note's offset to the next onset, drop zero-length notes,
/// then sort. Keeps one sounding note per key, which the note-event activity logic relies on.
pub fn trim_overlapping_notes(notes: Vec<Note>) -> Vec<Note> {
    if notes.len() <= 1 {
        return notes;
    }
    let mut groups: BTreeMap<(u8, u8, bool), Vec<Note>> = BTreeMap::new();
    for n in notes {
        groups
            .entry((n.pitch, n.program, n.is_drum))
            .or_default()
            .push(n);
    }
    let mut out = Vec::new();
    for (_, mut g) in groups {
        g.sort_by(|a, b| a.onset.total_cmp(&b.onset));
        for i in 1..g.len() {
            if g[i - 1].offset > g[i].onset {
                g[i - 1].offset = g[i].onset;
            }
        }
        out.extend(g.into_iter().filter(|n| n.onset < n.offset));
    }
    sort_notes(&mut out);
    out
}

/// YourMT3 `validate_notes(fix=True)`: onset > offset or a non-drum note shorter than 10 ms gets
/// offset = onset + 10 ms (same float operations as the reference, so results are bit-equal).
pub fn validate_notes(notes: &mut [Note]) {
    for n in notes.iter_mut() {
        if n.onset > n.offset {
            n.offset = n.offset.max(n.onset + MINIMUM_OFFSET_SEC);
        } else if !n.is_drum && n.offset - n.onset < 0.01 {
            n.offset = n.onset + MINIMUM_OFFSET_SEC;
        }
    }
}

/// YourMT3 `mix_notes`: concatenate, sort (with offset as last key), trim, fix offsets.
pub fn mix_notes<I: IntoIterator<Item = Vec<Note>>>(lists: I) -> Vec<Note> {
    let mut all: Vec<Note> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| a.order(b).then(a.offset.total_cmp(&b.offset)));
    let mut all = trim_overlapping_notes(all);
    validate_notes(&mut all);
    all
}
