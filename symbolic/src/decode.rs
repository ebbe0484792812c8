//! Tokens -> note events -> notes, with YourMT3's error accounting.
//!
//! Reference: `amt/src/utils/event2note.py` at luck058/YourMT3 `710a835`; spec section 4.7.
//! Model output is arbitrary, so every malformed token is counted by kind and skipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::NoteEvent;
use crate::note::{
    DRUM_PROGRAM, MINIMUM_OFFSET_SEC, Note, mix_notes, sort_notes, trim_overlapping_notes,
    validate_notes,
};
use crate::tokenizer::{TPS, Task};
use crate::vocab::{Event, Token};

/// Kinds of decoding errors; [`DecodeErrorKind::name`] gives YourMT3's counter key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DecodeErrorKind {
    MissingProgramInTie,
    MissingTie,
    ShiftOutOfRange,
    MissingProgram,
    MissingVelocity,
    MultiTieType1,
    MultiTieType2,
    UnknownEvent,
    NoteOffWithoutNoteOn,
    OnsetNotFound,
    MergingSegmentTie,
    LongNote,
}

impl DecodeErrorKind {
    /// YourMT3's counter key (`Err/...`).
    pub fn name(self) -> &'static str {
        match self {
            Self::MissingProgramInTie => "Err/Missing prg in tie",
            Self::MissingTie => "Err/Missing tie",
            Self::ShiftOutOfRange => "Err/Shift out of range",
            Self::MissingProgram => "Err/Missing prg",
            Self::MissingVelocity => "Err/Missing vel",
            Self::MultiTieType1 => "Err/Multi-tie type 1",
            Self::MultiTieType2 => "Err/Multi-tie type 2",
            Self::UnknownEvent => "Err/Unknown event",
            Self::NoteOffWithoutNoteOn => "Err/Note off without note on",
            Self::OnsetNotFound => "Err/onset not found",
            Self::MergingSegmentTie => "Err/merging segment tie",
            Self::LongNote => "Err/long note > 10s",
        }
    }
}

/// Error counts by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts(pub BTreeMap<DecodeErrorKind, u64>);

impl ErrorCounts {
    pub fn add(&mut self, kind: DecodeErrorKind) {
        *self.0.entry(kind).or_default() += 1;
    }
    pub fn get(&self, kind: DecodeErrorKind) -> u64 {
        self.0.get(&kind).copied().unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
    pub fn merge(&mut self, other: &ErrorCounts) {
        for (&k, &v) in &other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }
    /// Counts keyed by YourMT3's names, for logs and metrics tables.
    pub fn by_name(&self) -> BTreeMap<&'static str, u64> {
        self.0.iter().map(|(k, &v)| (k.name(), v)).collect()
    }
}

/// One decoded segment (YourMT3 `event2note_event` output).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecodedSegment {
    pub start_time: f64,
    /// Sorted by (time, is_drum, program, velocity, pitch); absolute times.
    pub note_events: Vec<NoteEvent>,
    /// Tie section notes (time = segment start).
    pub ties: Vec<NoteEvent>,
    /// (program, pitch) still sounding at the segment end, ties included.
    pub last_activity: Vec<(u8, u8)>,
    pub errors: ErrorCounts,
    /// Tokens read up to EOS (or the end): each was used, ignored, or counted as one error.
    pub tokens_read: usize,
    /// Tokens that set state or produced an event.
    pub tokens_used: usize,
    /// PAD, UNK and tie-section tokens with no meaning there.
    pub tokens_ignored: usize,
}

/// Decode one token row (YourMT3 `event2note_event`). Never fails: errors are counted.
pub fn decode_tokens(tokens: &[Token], start_time: f64) -> DecodedSegment {
    let mut seg = DecodedSegment {
        start_time,
        ..Default::default()
    };
    let mut program_state: Option<u8> = None;
    let mut tie_at = None;
    // Phase 1: tie section, up to `tie` (a shift ends it early, as in YourMT3).
    for (i, &t) in tokens.iter().enumerate() {
        seg.tokens_read += 1;
        match Event::from_token(t) {
            Some(Event::Tie) => {
                seg.tokens_used += 1;
                tie_at = Some(i);
                break;
            }
            Some(Event::Shift(_)) => {
                seg.tokens_read -= 1; // not consumed here
                break;
            }
            Some(Event::Program(p)) => {
                seg.tokens_used += 1;
                program_state = Some(p);
            }
            Some(Event::Pitch(p)) => match program_state {
                Some(prog) => {
                    seg.tokens_used += 1;
                    seg.ties.push(NoteEvent {
                        is_drum: false,
                        program: prog,
                        time: start_time,
                        velocity: 1,
                        pitch: p,
                    });
                    seg.last_activity.push((prog, p));
                }
                None => seg.errors.add(DecodeErrorKind::MissingProgramInTie),
            },
            _ => seg.tokens_ignored += 1,
        }
    }
    let Some(tie_at) = tie_at else {
        seg.errors.add(DecodeErrorKind::MissingTie);
        seg.ties.clear();
        seg.last_activity.clear();
        return seg;
    };

    let start_tick = (start_time * TPS).round_ties_even() as i64;
    let mut tick = start_tick;
    let mut velocity_state: Option<u8> = None;
    for &t in &tokens[tie_at + 1..] {
        seg.tokens_read += 1;
        let Some(ev) = Event::from_token(t) else {
            seg.errors.add(DecodeErrorKind::UnknownEvent);
            continue;
        };
        match ev {
            Event::Shift(v) => {
                if v == 0 || v > 1000 {
                    seg.errors.add(DecodeErrorKind::ShiftOutOfRange);
                } else {
                    seg.tokens_used += 1;
                    tick = start_tick + i64::from(v);
                }
            }
            Event::Drum(p) => {
                seg.tokens_used += 1;
                seg.note_events.push(NoteEvent {
                    is_drum: true,
                    program: DRUM_PROGRAM,
                    time: tick as f64 / TPS,
                    velocity: 1,
                    pitch: p,
                });
            }
            Event::Program(p) => {
                seg.tokens_used += 1;
                program_state = Some(p);
            }
            Event::Velocity(v) => {
                seg.tokens_used += 1;
                velocity_state = Some(v);
            }
            Event::Pitch(p) => {
                let Some(prog) = program_state else {
                    seg.errors.add(DecodeErrorKind::MissingProgram);
                    continue;
                };
                let Some(vel) = velocity_state else {
                    seg.errors.add(DecodeErrorKind::MissingVelocity);
                    continue;
                };
                if vel > 0 {
                    seg.last_activity.push((prog, p));
                } else if let Some(i) = seg.last_activity.iter().position(|&a| a == (prog, p)) {
                    seg.last_activity.remove(i);
                } else {
                    seg.errors.add(DecodeErrorKind::NoteOffWithoutNoteOn);
                    continue;
                }
                seg.tokens_used += 1;
                seg.note_events.push(NoteEvent {
                    is_drum: false,
                    program: prog,
                    time: tick as f64 / TPS,
                    velocity: vel,
                    pitch: p,
                });
            }
            Event::Eos => {
                seg.tokens_used += 1;
                break;
            }
            Event::Pad | Event::Unk => seg.tokens_ignored += 1,
            Event::Tie => seg.errors.add(if tick == start_tick {
                DecodeErrorKind::MultiTieType1
            } else {
                DecodeErrorKind::MultiTieType2
            }),
        }
    }
    seg.note_events.sort_by(NoteEvent::order);
    seg.ties
        .sort_by(|a, b| a.program.cmp(&b.program).then(a.pitch.cmp(&b.pitch)));
    seg
}

/// Note events (absolute times) -> notes (YourMT3 `note_event2note` with fix_offset and
/// trim_overlap): an onset on a sounding (pitch, program) closes it first, unclosed notes get
/// 10 ms, notes longer than 10 s are cut to 10 ms (long-note guard).
pub fn note_events_to_notes(mut events: Vec<NoteEvent>) -> (Vec<Note>, ErrorCounts) {
    let mut errors = ErrorCounts::default();
    events.sort_by(|a, b| {
        a.time
            .total_cmp(&b.time)
            .then(a.is_drum.cmp(&b.is_drum))
            .then(a.pitch.cmp(&b.pitch))
            .then(a.velocity.cmp(&b.velocity))
            .then(a.program.cmp(&b.program))
    });
    let mut notes = Vec::new();
    // Insertion-ordered map (pitch, program) -> open onset, like YourMT3's dict.
    let mut active: Vec<((u8, u8), NoteEvent)> = Vec::new();
    let close = |on: &NoteEvent, offset: f64| Note {
        is_drum: false,
        program: on.program,
        onset: on.time,
        offset,
        pitch: on.pitch,
        velocity: on.velocity,
    };
    for ne in &events {
        if ne.is_drum {
            if ne.velocity > 0 {
                notes.push(Note {
                    is_drum: true,
                    program: DRUM_PROGRAM,
                    onset: ne.time,
                    offset: ne.time + MINIMUM_OFFSET_SEC,
                    pitch: ne.pitch,
                    velocity: 1,
                });
            }
            continue;
        }
        let key = (ne.pitch, ne.program);
        let found = active.iter().position(|(k, _)| *k == key);
        if ne.velocity > 0 {
            if let Some(i) = found {
                let (_, on) = active.remove(i);
                notes.push(close(&on, ne.time));
            }
            active.push((key, *ne));
        } else if let Some(i) = found {
            let (_, on) = active.remove(i);
            notes.push(close(&on, ne.time));
        } else {
            errors.add(DecodeErrorKind::OnsetNotFound);
        }
    }
    for (_, on) in &active {
        notes.push(close(on, on.time + MINIMUM_OFFSET_SEC));
    }
    for n in &mut notes {
        if n.offset - n.onset > 10.0 {
            n.offset = n.onset + MINIMUM_OFFSET_SEC;
            errors.add(DecodeErrorKind::LongNote);
        }
    }
    sort_notes(&mut notes);
    validate_notes(&mut notes);
    (trim_overlapping_notes(notes), errors)
}

/// Merge consecutive decoded segments of one file and channel (YourMT3
/// `merge_zipped_note_events_and_ties_to_notes`): a note sounding at the end of a segment but
/// missing from the next segment's ties is closed at the next segment's start.
pub fn merge_segments(segments: &[DecodedSegment]) -> (Vec<Note>, ErrorCounts) {
    let mut merged = Vec::new();
    let mut errors = ErrorCounts::default();
    let mut prev: Option<&[(u8, u8)]> = None;
    for seg in segments {
        errors.merge(&seg.errors);
        if let Some(prev) = prev {
            for &(program, pitch) in prev {
                if !seg
                    .ties
                    .iter()
                    .any(|t| t.program == program && t.pitch == pitch)
                {
                    merged.push(NoteEvent {
                        is_drum: false,
                        program,
                        time: seg.start_time,
                        velocity: 0,
                        pitch,
                    });
                    errors.add(DecodeErrorKind::MergingSegmentTie);
                }
            }
        }
        merged.extend_from_slice(&seg.note_events);
        prev = Some(&seg.last_activity);
    }
    let (notes, e) = note_events_to_notes(merged);
    errors.merge(&e);
    (notes, errors)
}

/// Decode the token rows of all segments of one file for a task: per channel decode and merge,
/// then `mix_notes` across channels. `rows[i]` holds segment i (`num_channels * max_len`
/// tokens, channel-major; a shorter row is read as far as it goes).
pub fn decode_file(
    task: &Task,
    rows: &[&[Token]],
    start_times: &[f64],
) -> (Vec<Note>, ErrorCounts) {
    let mut errors = ErrorCounts::default();
    let mut per_channel = Vec::with_capacity(task.num_channels);
    for c in 0..task.num_channels {
        let segs: Vec<DecodedSegment> = rows
            .iter()
            .zip(start_times)
            .map(|(row, &st)| {
                let lo = (c * task.max_len).min(row.len());
                let hi = ((c + 1) * task.max_len).min(row.len());
                decode_tokens(&row[lo..hi], st)
            })
            .collect();
        let (notes, e) = merge_segments(&segs);
        errors.merge(&e);
        per_channel.push(notes);
    }
    (mix_notes(per_channel), errors)
}
