//! Notes -> note events, and per-segment slicing with ties.
//!
//! Reference: `amt/src/utils/note2event.py::{note2note_event, slice_note_events_and_ties}` at
//! luck058/YourMT3 `710a835`; spec section 4.4-4.5.
//!
//! YourMT3 stores a copy of the active-note set on every event (`activity`), which is quadratic
//! in memory for long pieces. Here the list keeps a snapshot of the active set only every
//! [`CHECKPOINT_EVERY`] events and replays at most that many events to answer "which non-drum
//! notes are sounding just before event i", which is all the tie section needs.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::note::Note;

/// Distance between stored snapshots of the active set.
pub const CHECKPOINT_EVERY: usize = 128;

/// An onset (velocity 1) or offset (velocity 0) at an absolute time (YourMT3 `NoteEvent`, minus
/// the `activity` set). Drum notes only have onsets. Tie events carry the note's onset time.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoteEvent {
    pub is_drum: bool,
    pub program: u8,
    /// Absolute time in seconds.
    pub time: f64,
    /// 0 = offset, > 0 = onset.
    pub velocity: u8,
    pub pitch: u8,
}

impl NoteEvent {
    /// YourMT3's event order: (time, is_drum, program, velocity, pitch); offsets come before
    /// onsets at the same time.
    pub fn order(&self, other: &Self) -> Ordering {
        self.time
            .total_cmp(&other.time)
            .then(self.is_drum.cmp(&other.is_drum))
            .then(self.program.cmp(&other.program))
            .then(self.velocity.cmp(&other.velocity))
            .then(self.pitch.cmp(&other.pitch))
    }
}

/// Note events of one file, sorted, with sparse snapshots of the active set.
#[derive(Clone, Debug, Default)]
pub struct NoteEventList {
    events: Vec<NoteEvent>,
    /// `checkpoints[k]` = indices of onsets active before event `k * CHECKPOINT_EVERY`.
    checkpoints: Vec<Vec<u32>>,
}

/// The events of one segment `[start, end)` and the notes tied into it.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentEvents<'a> {
    pub start_time: f64,
    /// Contiguous, sorted slice of the file's events.
    pub events: &'a [NoteEvent],
    /// Non-drum notes sounding at the segment start, sorted by (program, pitch).
    pub ties: Vec<NoteEvent>,
}

impl NoteEventList {
    /// Build note events from notes (YourMT3 `note2note_event`). Rejects notes that would break
    /// the activity logic: NaN times, pitch > 127, non-drum offset not after onset.
    pub fn from_notes(notes: &[Note]) -> Result<Self> {
        let mut events = Vec::with_capacity(notes.len() * 2);
        for (index, n) in notes.iter().enumerate() {
            let bad = |reason: String| Error::InvalidNote { index, reason };
            if !n.onset.is_finite() || !n.offset.is_finite() {
                return Err(bad(format!(
                    "non-finite time (onset {}, offset {})",
                    n.onset, n.offset
                )));
            }
            if n.pitch > 127 {
                return Err(bad(format!("pitch {} > 127", n.pitch)));
            }
            if !n.is_drum && n.offset <= n.onset {
                return Err(bad(format!(
                    "offset {} is not after onset {}; run validate_notes first",
                    n.offset, n.onset
                )));
            }
            events.push(NoteEvent {
                is_drum: n.is_drum,
                program: n.program,
                time: n.onset,
                velocity: n.velocity,
                pitch: n.pitch,
            });
            if !n.is_drum {
                events.push(NoteEvent {
                    is_drum: false,
                    program: n.program,
                    time: n.offset,
                    velocity: 0,
                    pitch: n.pitch,
                });
            }
        }
        Ok(Self::from_sorted_events({
            events.sort_by(NoteEvent::order);
            events
        }))
    }

    fn from_sorted_events(events: Vec<NoteEvent>) -> Self {
        let mut checkpoints = Vec::with_capacity(events.len() / CHECKPOINT_EVERY + 1);
        let mut active: Vec<u32> = Vec::new();
        for (i, ev) in events.iter().enumerate() {
            if i % CHECKPOINT_EVERY == 0 {
                checkpoints.push(active.clone());
            }
            apply(&events, &mut active, i, ev);
        }
        Self {
            events,
            checkpoints,
        }
    }

    /// All events, sorted by (time, is_drum, program, velocity, pitch).
    pub fn events(&self) -> &[NoteEvent] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Non-drum onsets still sounding just before event `index` (YourMT3's `activity` of that
    /// event), as onset events sorted by (program, pitch).
    pub fn active_before(&self, index: usize) -> Vec<NoteEvent> {
        let index = index.min(self.events.len());
        if self.checkpoints.is_empty() {
            return Vec::new();
        }
        let k = (index / CHECKPOINT_EVERY).min(self.checkpoints.len() - 1);
        let mut active = self.checkpoints[k].clone();
        for i in k * CHECKPOINT_EVERY..index {
            apply(&self.events, &mut active, i, &self.events[i]);
        }
        let mut ties: Vec<NoteEvent> = active.iter().map(|&j| self.events[j as usize]).collect();
        ties.sort_by(|a, b| a.program.cmp(&b.program).then(a.pitch.cmp(&b.pitch)));
        ties
    }

    /// Non-drum notes sounding at `start` (the tie section of a segment starting there): the
    /// activity of the first event at or after `start`, sorted by (program, pitch).
    pub fn ties_at(&self, start: f64) -> Vec<NoteEvent> {
        let lo = self.events.partition_point(|e| e.time < start);
        if lo < self.events.len() {
            self.active_before(lo)
        } else {
            Vec::new()
        }
    }

    /// Events in `[start, start + duration)` and the notes tied into the segment (YourMT3
    /// `slice_note_events_and_ties`): the activity of the first event at or after `start`.
    pub fn segment(&self, start: f64, duration: f64) -> SegmentEvents<'_> {
        let end = start + duration;
        let lo = self.events.partition_point(|e| e.time < start);
        let hi = self.events.partition_point(|e| e.time < end).max(lo);
        SegmentEvents {
            start_time: start,
            events: &self.events[lo..hi],
            ties: self.ties_at(start),
        }
    }
}

/// Update the active set with event `i` (offsets close the oldest matching onset).
fn apply(events: &[NoteEvent], active: &mut Vec<u32>, i: usize, ev: &NoteEvent) {
    if ev.is_drum {
        return;
    }
    if ev.velocity > 0 {
        active.push(i as u32);
    } else if let Some(pos) = active.iter().position(|&j| {
        let on = &events[j as usize];
        on.program == ev.program && on.pitch == ev.pitch
    }) {
        active.remove(pos);
    }
}
