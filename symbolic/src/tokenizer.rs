//! Note events -> codec events -> padded token rows, for the two released tasks.
//!
//! Reference: `amt/src/utils/note2event.py::note_event2event`, `utils/tokenizer.py::encode_plus`,
//! `utils/task_manager.py`, `config/task.py` at luck058/YourMT3 `710a835`; spec section 4.3, 4.6.
//!
//! Deviation: a sequence longer than the row is cut to `max_len - 1` tokens and EOS is kept as
//! the last token (YourMT3 cuts to `max_len` and loses EOS); the number of dropped tokens is
//! reported in [`Encoded::truncated`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::events::{NoteEvent, NoteEventList};
use crate::vocab::{
    EOS, Event, GM_DRUM_NOTES, GM_INSTR_CLASS_PLUS, MT3_FULL_PLUS, PAD, Remap, Token,
    gm_plus_channel,
};

/// Ticks per second of the shift events (10 ms).
pub const TPS: f64 = 100.0;
/// Samples per segment at 16 kHz.
pub const SEGMENT_SAMPLES: usize = 32767;
pub const SAMPLE_RATE: f64 = 16000.0;
/// Segment duration in seconds (32767 / 16000 = 2.0479375).
pub const SEGMENT_SEC: f64 = SEGMENT_SAMPLES as f64 / SAMPLE_RATE;

/// The released task presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskName {
    /// One channel of 1024 tokens (YMT3+, YPTF+Single).
    Mt3FullPlus,
    /// 13 channels of 256 tokens (YPTF+Multi, YPTF.MoE+Multi).
    Mc13FullPlus256,
}

/// A tokenisation task: channel layout, row length and training vocabularies.
#[derive(Clone, Debug)]
pub struct Task {
    pub name: TaskName,
    pub num_channels: usize,
    /// Tokens per channel row.
    pub max_len: usize,
    program_remap: Remap,
    drum_remap: Remap,
}

/// Token rows of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// `num_channels * max_len` tokens, channel-major.
    pub tokens: Vec<Token>,
    pub num_channels: usize,
    pub max_len: usize,
    /// Tokens dropped by truncation, summed over channels.
    pub truncated: usize,
    /// Note and tie events dropped because their program has no channel (multi-channel only).
    pub dropped_events: usize,
}

impl Encoded {
    /// The row of one channel.
    pub fn channel(&self, c: usize) -> &[Token] {
        &self.tokens[c * self.max_len..(c + 1) * self.max_len]
    }
}

impl Task {
    pub fn mt3_full_plus() -> Self {
        Self {
            name: TaskName::Mt3FullPlus,
            num_channels: 1,
            max_len: 1024,
            program_remap: Remap::from_classes(MT3_FULL_PLUS),
            drum_remap: Remap::from_classes(GM_DRUM_NOTES),
        }
    }

    pub fn mc13_full_plus_256() -> Self {
        Self {
            name: TaskName::Mc13FullPlus256,
            num_channels: GM_INSTR_CLASS_PLUS.len() + 1,
            max_len: 256,
            program_remap: Remap::from_classes(MT3_FULL_PLUS),
            drum_remap: Remap::from_classes(GM_DRUM_NOTES),
        }
    }

    pub fn new(name: TaskName) -> Self {
        match name {
            TaskName::Mt3FullPlus => Self::mt3_full_plus(),
            TaskName::Mc13FullPlus256 => Self::mc13_full_plus_256(),
        }
    }

    /// Look a task up by its YourMT3 name.
    pub fn from_name(name: &str) -> Result<Self> {
        match name {
            "mt3_full_plus" => Ok(Self::mt3_full_plus()),
            "mc13_full_plus_256" => Ok(Self::mc13_full_plus_256()),
            other => Err(Error::UnknownTask(other.to_string())),
        }
    }

    /// Same task without the training-time program/drum remapping (for exact round trips and
    /// for encoding references whose programs are already canonical).
    pub fn without_remap(mut self) -> Self {
        self.program_remap = Remap::identity();
        self.drum_remap = Remap::identity();
        self
    }

    /// Program as encoded (first program of its MT3_FULL_PLUS class).
    pub fn encoded_program(&self, program: u8) -> u8 {
        self.program_remap.apply(program)
    }

    /// Drum pitch as encoded (first pitch of its GM drum class).
    pub fn encoded_drum(&self, pitch: u8) -> u8 {
        self.drum_remap.apply(pitch)
    }

    /// Tokenise the segment `[start, start + SEGMENT_SEC)` of a file.
    pub fn encode_segment(&self, list: &NoteEventList, start_time: f64) -> Result<Encoded> {
        let seg = list.segment(start_time, SEGMENT_SEC);
        self.encode_events(seg.events, &seg.ties, start_time)
    }

    /// Tokenise already-sliced events and ties (both with absolute times).
    pub fn encode_events(
        &self,
        events: &[NoteEvent],
        ties: &[NoteEvent],
        start_time: f64,
    ) -> Result<Encoded> {
        let mut out = Encoded {
            tokens: Vec::with_capacity(self.num_channels * self.max_len),
            num_channels: self.num_channels,
            max_len: self.max_len,
            truncated: 0,
            dropped_events: 0,
        };
        if self.num_channels == 1 {
            let ev = note_events_to_events(events, ties, start_time)?;
            out.truncated += self.push_row(&ev, &mut out.tokens)?;
            return Ok(out);
        }
        let mut ch_events: Vec<Vec<NoteEvent>> = vec![Vec::new(); self.num_channels];
        let mut ch_ties: Vec<Vec<NoteEvent>> = vec![Vec::new(); self.num_channels];
        for (src, dst) in [(events, &mut ch_events), (ties, &mut ch_ties)] {
            for e in src {
                match gm_plus_channel(e.is_drum, e.program) {
                    Some(c) if c < self.num_channels => dst[c].push(*e),
                    _ => out.dropped_events += 1,
                }
            }
        }
        for c in 0..self.num_channels {
            let ev = note_events_to_events(&ch_events[c], &ch_ties[c], start_time)?;
            out.truncated += self.push_row(&ev, &mut out.tokens)?;
        }
        Ok(out)
    }

    /// Encode one row: events, EOS, PAD; returns the number of dropped tokens.
    fn push_row(&self, events: &[Event], tokens: &mut Vec<Token>) -> Result<usize> {
        let keep = events.len().min(self.max_len.saturating_sub(1));
        for &e in &events[..keep] {
            tokens.push(self.token(e)?);
        }
        tokens.push(EOS);
        let row_start = tokens.len() - keep - 1;
        tokens.resize(row_start + self.max_len, PAD);
        Ok(events.len() - keep)
    }

    /// Token of an event with the task's training vocabularies applied.
    pub fn token(&self, e: Event) -> Result<Token> {
        match e {
            Event::Program(p) => Event::Program(self.encoded_program(p)).token(),
            Event::Drum(p) => Event::Drum(self.encoded_drum(p)).token(),
            other => other.token(),
        }
    }
}

/// YourMT3 `note_event2event`: the tie section (program when it changes, pitch), `tie`, then the
/// segment's events ordered by (tick, is_drum, program, velocity, pitch) with absolute shifts,
/// program/velocity emitted on change, drum offsets skipped. No EOS; programs are raw.
pub fn note_events_to_events(
    events: &[NoteEvent],
    ties: &[NoteEvent],
    start_time: f64,
) -> Result<Vec<Event>> {
    let tick = |t: f64| (t * TPS).round_ties_even() as i64;
    let mut ties: Vec<&NoteEvent> = ties.iter().collect();
    ties.sort_by(|a, b| a.program.cmp(&b.program).then(a.pitch.cmp(&b.pitch)));
    let mut sorted: Vec<(i64, &NoteEvent)> = events.iter().map(|e| (tick(e.time), e)).collect();
    sorted.sort_by(|(ta, a), (tb, b)| {
        ta.cmp(tb)
            .then(a.is_drum.cmp(&b.is_drum))
            .then(a.program.cmp(&b.program))
            .then(a.velocity.cmp(&b.velocity))
            .then(a.pitch.cmp(&b.pitch))
    });

    let mut out = Vec::with_capacity(ties.len() * 2 + events.len() * 2 + 1);
    let mut program_state: Option<u8> = None;
    for t in ties {
        if program_state != Some(t.program) {
            out.push(Event::Program(t.program));
            program_state = Some(t.program);
        }
        out.push(Event::Pitch(t.pitch));
    }
    out.push(Event::Tie);

    let start_tick = tick(start_time);
    let mut tick_state = start_tick;
    let mut velocity_state: Option<u8> = None;
    for (t, e) in sorted {
        if e.is_drum && e.velocity == 0 {
            continue;
        }
        if t > tick_state {
            let shift = t - start_tick;
            let shift = u16::try_from(shift).map_err(|_| Error::Unencodable {
                event: format!("shift({shift})"),
            })?;
            out.push(Event::Shift(shift));
            tick_state = t;
        } else if t < tick_state {
            return Err(Error::Unencodable {
                event: format!(
                    "event at {} s before the segment start {start_time} s",
                    e.time
                ),
            });
        }
        let vel = u8::from(e.velocity > 0);
        if e.is_drum {
            if velocity_state != Some(1) {
                out.push(Event::Velocity(1));
                velocity_state = Some(1);
            }
            out.push(Event::Drum(e.pitch));
        } else {
            if program_state != Some(e.program) {
                out.push(Event::Program(e.program));
                program_state = Some(e.program);
            }
            if velocity_state != Some(vel) {
                out.push(Event::Velocity(vel));
                velocity_state = Some(vel);
            }
            out.push(Event::Pitch(e.pitch));
        }
    }
    Ok(out)
}

/// Start times of the non-overlapping evaluation segments covering `duration_sec`, counted in
/// whole samples at 16 kHz (i * 32767 / 16000; the last one may run past the end, as YourMT3
/// zero-pads it). A NaN, negative or infinite duration gives the single segment at 0.
pub fn segment_start_times(duration_sec: f64) -> Vec<f64> {
    let samples = (duration_sec * SAMPLE_RATE).round();
    let samples = if samples.is_finite() && samples > 0.0 && samples < 1e15 {
        samples as usize
    } else {
        0
    };
    segment_start_times_for_samples(samples)
}

/// Start times of the segments covering an audio of `n_samples` samples (at least one).
pub fn segment_start_times_for_samples(n_samples: usize) -> Vec<f64> {
    let n = n_samples.div_ceil(SEGMENT_SAMPLES).max(1);
    (0..n)
        .map(|i| (i * SEGMENT_SAMPLES) as f64 / SAMPLE_RATE)
        .collect()
}
