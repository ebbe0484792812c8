//! MIDI bytes -> notes (YourMT3 `midi2note`).
//!
//! Reference: `amt/src/utils/midi.py::midi2note` at luck058/YourMT3 `710a835`; rules in
//! `shared/spec/yourmt3.md` section 1.2.
//!
//! Timing follows mido, which YourMT3 reads MIDI with: all tracks are merged into one stream
//! ordered by tick (ties keep track order, then file order), tempo changes from any track apply
//! to every track from the next tick on, and seconds are accumulated message by message with the
//! same float operations as `mido.tick2second`, so times match mido to the bit. The file length
//! is the time of the last message of any track (mido's `MidiFile.length`).
//!
//! Deviation (bug fix): YourMT3 removes notes from the list it is iterating when a note-off
//! arrives with the sustain pedal down, which skips every second matching note. Here the rule is:
//! on a note-off (or note-on with velocity 0) for pitch p on channel c,
//! - pedal down: every active note of pitch p on channel c moves to the sustained list, and
//!   ends when the pedal is released;
//! - pedal up: only the oldest active note of pitch p on channel c ends now (YourMT3's intent).

use std::collections::BTreeMap;

use midly::{MetaMessage, MidiMessage, Smf, Timing, TrackEventKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::note::{
    DRUM_PROGRAM, Note, quantize_10ms, sort_notes, trim_overlapping_notes, validate_notes,
};

/// Every option of `midi2note`; the Default is YourMT3's default. Serialisable because callers
/// hash it into cache keys (`BTreeMap` keeps the hash stable).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MidiToNotesConfig {
    /// Velocity becomes 1 if > 0.
    pub binary_velocity: bool,
    /// Pin channel index 9 to program 128 (drums).
    pub ch_9_as_drum: bool,
    /// Every note is a drum hit (e.g. Slakh drum stems, E-GMD).
    pub force_all_drum: bool,
    /// Program for channels that never see a program_change (otherwise an error). Left out of
    /// the serialised form when unset, so that configs holding it convert to TOML (no null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force_all_program_to: Option<u8>,
    /// Track name (case-insensitive exact match) -> program; pins the channel of that track's
    /// first note and ignores later program_change on it.
    pub track_name_to_program: BTreeMap<String, u8>,
    /// Per (pitch, program, is_drum): clip overlapping notes, drop zero-length ones.
    pub trim_overlap: bool,
    /// Apply `validate_notes` (minimum duration 10 ms for non-drums).
    pub fix_offset: bool,
    /// Round onsets and offsets to 10 ms.
    pub quantize: bool,
    /// Notes still sounding at the end of the file get offset = min(end, onset + this).
    pub minimum_offset_sec: f64,
    /// Drum notes get offset = onset + this.
    pub drum_offset_sec: f64,
    /// Ignore CC64 (sustain pedal).
    pub ignore_pedal: bool,
}

impl MidiToNotesConfig {
    /// The notes as the file holds them, for evaluation: every note-on paired with the next
    /// note-off of its (channel, pitch) in file order, at its exact time; no rounding, no
    /// overlap trimming, no minimum duration, velocities kept; channel 10 (index 9) is drums
    /// (General MIDI); a channel without a program change plays program 0; the sustain pedal
    /// is applied only when `sustain_pedal` is true (mir_eval users expect it off).
    pub fn as_written(sustain_pedal: bool) -> Self {
        MidiToNotesConfig {
            binary_velocity: false,
            ch_9_as_drum: true,
            force_all_drum: false,
            force_all_program_to: Some(0),
            track_name_to_program: BTreeMap::new(),
            trim_overlap: false,
            fix_offset: false,
            quantize: false,
            ignore_pedal: !sustain_pedal,
            ..MidiToNotesConfig::default()
        }
    }
}

impl Default for MidiToNotesConfig {
    fn default() -> Self {
        Self {
            binary_velocity: true,
            ch_9_as_drum: false,
            force_all_drum: false,
            force_all_program_to: None,
            track_name_to_program: BTreeMap::new(),
            trim_overlap: true,
            fix_offset: true,
            quantize: true,
            minimum_offset_sec: 0.01,
            drum_offset_sec: 0.01,
            ignore_pedal: false,
        }
    }
}

/// Result of [`midi_to_notes`].
#[derive(Clone, Debug, PartialEq)]
pub struct MidiNotes {
    /// Sorted by (onset, is_drum, program, velocity, pitch).
    pub notes: Vec<Note>,
    /// Length of the file in seconds (time of the last message of any track).
    pub length_sec: f64,
    /// Program of each channel at the end of the file (YourMT3 `return_programs`).
    pub program_state: [Option<u8>; 16],
}

/// One message of the merged stream, reduced to what midi2note needs.
#[derive(Clone, Copy)]
enum Msg {
    Tempo(u32),
    Program { ch: u8, program: u8 },
    Sustain { ch: u8, value: u8 },
    NoteOn { ch: u8, key: u8, vel: u8 },
    NoteOff { ch: u8, key: u8 },
    Other,
}

struct Pending {
    program: u8,
    onset: f64,
    pitch: u8,
    velocity: u8,
}

/// Parse MIDI bytes into notes with YourMT3's `midi2note` rules (see the module doc).
pub fn midi_to_notes(bytes: &[u8], cfg: &MidiToNotesConfig) -> Result<MidiNotes> {
    check_complete(bytes)?;
    let smf = Smf::parse(bytes)?;
    if smf.header.format == midly::Format::Sequential {
        return Err(Error::UnsupportedMidiFormat);
    }
    // Seconds per tick: metrical files scale with the tempo, timecode files do not.
    let (tpb, fixed_tick_sec) = match smf.header.timing {
        Timing::Metrical(t) => (f64::from(t.as_int().max(1)), None),
        Timing::Timecode(fps, sub) => (
            1.0,
            Some(1.0 / (f64::from(fps.as_f32()) * f64::from(sub.max(1)))),
        ),
    };

    // Merge tracks by absolute tick; stable sort keeps track order, then file order.
    let mut merged: Vec<(u64, Msg)> = Vec::new();
    let mut end_tick = 0u64;
    let mut pins: Vec<(usize, u8)> = Vec::new(); // (track index, pinned program) per track name
    for (ti, track) in smf.tracks.iter().enumerate() {
        let mut tick = 0u64;
        let mut pinned_program: Option<u8> = None;
        for ev in track {
            tick += u64::from(ev.delta.as_int());
            end_tick = end_tick.max(tick);
            let msg = match ev.kind {
                TrackEventKind::Meta(MetaMessage::Tempo(t)) => Msg::Tempo(t.as_int()),
                TrackEventKind::Meta(MetaMessage::TrackName(name)) => {
                    if pinned_program.is_none() {
                        let name = String::from_utf8_lossy(name).to_lowercase();
                        pinned_program = cfg
                            .track_name_to_program
                            .iter()
                            .find(|(k, _)| k.to_lowercase() == name)
                            .map(|(_, &p)| p);
                        if let Some(p) = pinned_program {
                            pins.push((ti, p));
                        }
                    }
                    Msg::Other
                }
                TrackEventKind::Meta(MetaMessage::EndOfTrack) => continue,
                TrackEventKind::Midi { channel, message } => {
                    let ch = channel.as_int();
                    match message {
                        MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => Msg::NoteOn {
                            ch,
                            key: key.as_int(),
                            vel: vel.as_int(),
                        },
                        MidiMessage::NoteOn { key, .. } | MidiMessage::NoteOff { key, .. } => {
                            Msg::NoteOff {
                                ch,
                                key: key.as_int(),
                            }
                        }
                        MidiMessage::ProgramChange { program } => Msg::Program {
                            ch,
                            program: program.as_int(),
                        },
                        MidiMessage::Controller { controller, value }
                            if controller.as_int() == 64 =>
                        {
                            Msg::Sustain {
                                ch,
                                value: value.as_int(),
                            }
                        }
                        _ => Msg::Other,
                    }
                }
                _ => Msg::Other,
            };
            merged.push((tick, msg));
        }
    }
    merged.sort_by_key(|&(tick, _)| tick);

    // Channel pinning by track name: the channel of the first note message after the name.
    let mut program_state: [Option<u8>; 16] = [None; 16];
    let mut reserved = [false; 16];
    for &(ti, program) in &pins {
        if let Some(ch) = first_note_channel_after_name(&smf.tracks[ti]) {
            program_state[usize::from(ch)] = Some(program);
            reserved[usize::from(ch)] = true;
        }
    }
    if cfg.ch_9_as_drum {
        program_state[9] = Some(DRUM_PROGRAM);
        reserved[9] = true;
    }

    let mut sustain = [false; 16];
    let mut active: Vec<Vec<Pending>> = (0..16).map(|_| Vec::new()).collect();
    let mut sustained: Vec<Vec<Pending>> = (0..16).map(|_| Vec::new()).collect();
    let mut finished: Vec<Note> = Vec::new();
    let mut tempo: u32 = 500_000;
    let mut now = 0.0f64;
    let mut last_tick = 0u64;
    let advance = |now: &mut f64, last_tick: &mut u64, tick: u64, tempo: u32| {
        if tick > *last_tick {
            let delta = (tick - *last_tick) as f64;
            let scale = fixed_tick_sec.unwrap_or(f64::from(tempo) * 1e-6 / tpb);
            *now += delta * scale;
            *last_tick = tick;
        }
    };

    for &(tick, msg) in &merged {
        advance(&mut now, &mut last_tick, tick, tempo);
        match msg {
            Msg::Tempo(t) => tempo = t,
            Msg::Other => {}
            Msg::Program { ch, program } => {
                if !reserved[usize::from(ch)] {
                    program_state[usize::from(ch)] = Some(program);
                }
            }
            Msg::Sustain { ch, value } => {
                if cfg.ignore_pedal {
                    continue;
                }
                let c = usize::from(ch);
                if value >= 64 {
                    sustain[c] = true;
                } else {
                    sustain[c] = false;
                    for p in sustained[c].drain(..) {
                        finished.push(finish(p, now));
                    }
                }
            }
            Msg::NoteOn { ch, key, vel } => {
                let c = usize::from(ch);
                let program = match program_state[c] {
                    Some(p) => p,
                    None => match cfg.force_all_program_to {
                        Some(p) => {
                            program_state[c] = Some(p);
                            p
                        }
                        None if cfg.force_all_drum => DRUM_PROGRAM,
                        None => {
                            return Err(Error::MissingProgram {
                                channel: ch,
                                time: now,
                            });
                        }
                    },
                };
                if program == DRUM_PROGRAM || cfg.force_all_drum {
                    finished.push(Note {
                        is_drum: true,
                        program: DRUM_PROGRAM,
                        onset: now,
                        offset: now + cfg.drum_offset_sec,
                        pitch: key,
                        velocity: vel,
                    });
                } else {
                    active[c].push(Pending {
                        program,
                        onset: now,
                        pitch: key,
                        velocity: vel,
                    });
                }
            }
            Msg::NoteOff { ch, key } => {
                let c = usize::from(ch);
                if sustain[c] {
                    // Fixed rule: every matching note moves to the sustained list.
                    let (hit, keep): (Vec<_>, Vec<_>) =
                        active[c].drain(..).partition(|p| p.pitch == key);
                    active[c] = keep;
                    sustained[c].extend(hit);
                } else if let Some(i) = active[c].iter().position(|p| p.pitch == key) {
                    let p = active[c].remove(i);
                    finished.push(finish(p, now));
                }
            }
        }
    }
    advance(&mut now, &mut last_tick, end_tick, tempo);

    for group in [active, sustained] {
        for ch_notes in group {
            for p in ch_notes {
                let off = now.min(p.onset + cfg.minimum_offset_sec);
                finished.push(finish(p, off));
            }
        }
    }

    if cfg.binary_velocity {
        for n in &mut finished {
            n.velocity = u8::from(n.velocity > 0);
        }
    }
    sort_notes(&mut finished);
    if cfg.quantize {
        for n in &mut finished {
            n.onset = quantize_10ms(n.onset);
            n.offset = quantize_10ms(n.offset);
        }
    }
    let mut notes = if cfg.trim_overlap {
        trim_overlapping_notes(finished)
    } else {
        finished
    };
    if cfg.fix_offset {
        validate_notes(&mut notes);
    }
    Ok(MidiNotes {
        notes,
        length_sec: now,
        program_state,
    })
}

/// Refuses a file that ends before a chunk or an event it declares. midly (without its
/// `strict` feature, which would also refuse harmless quirks such as a wrong track count)
/// silently keeps whatever precedes such a cut, which would score or train on half a file.
pub fn check_complete(bytes: &[u8]) -> Result<()> {
    let mut pos = 0usize;
    let mut track = 0usize;
    let mut declared = None;
    while pos < bytes.len() {
        let rest = bytes.len() - pos;
        if rest < 8 {
            return Err(Error::TruncatedMidi(format!(
                "{rest} stray byte(s) at byte {pos} where a chunk header (8 bytes) should be"
            )));
        }
        let id = &bytes[pos..pos + 4];
        let len = u32::from_be_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let body = pos + 8;
        let name = String::from_utf8_lossy(id).into_owned();
        if len > bytes.len() - body {
            return Err(Error::TruncatedMidi(format!(
                "chunk `{name}` at byte {pos} declares {len} bytes but the file ends {} bytes later",
                bytes.len() - body
            )));
        }
        if id == b"MThd" && len >= 4 && declared.is_none() {
            declared = Some(u16::from_be_bytes([bytes[body + 2], bytes[body + 3]]) as usize);
        }
        if id == b"MTrk" {
            track += 1;
            let mut events = midly::EventIter::new(&bytes[body..body + len]);
            loop {
                let before = events.unread().len();
                match events.next() {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    // Without `strict`, midly ends a track silently where an event is cut.
                    None if before > 0 => {
                        return Err(Error::TruncatedMidi(format!(
                            "track {track} (chunk at byte {pos}) stops at an event that is cut off or malformed, {before} byte(s) before the chunk's end"
                        )));
                    }
                    None => break,
                }
            }
        }
        pos = body + len;
    }
    match declared {
        // A cut exactly between two tracks leaves fewer tracks than the header declares.
        Some(n) if track < n => Err(Error::TruncatedMidi(format!(
            "the header declares {n} track(s) but the file holds {track}"
        ))),
        _ => Ok(()),
    }
}

fn finish(p: Pending, offset: f64) -> Note {
    Note {
        is_drum: false,
        program: p.program,
        onset: p.onset,
        offset,
        pitch: p.pitch,
        velocity: p.velocity,
    }
}

/// Channel of the first note message after the track-name event (YourMT3
/// `find_channel_of_track_name`).
fn first_note_channel_after_name(track: &[midly::TrackEvent<'_>]) -> Option<u8> {
    let mut seen_name = false;
    for ev in track {
        match ev.kind {
            TrackEventKind::Meta(MetaMessage::TrackName(_)) => seen_name = true,
            TrackEventKind::Midi {
                channel,
                message: MidiMessage::NoteOn { .. } | MidiMessage::NoteOff { .. },
            } if seen_name => return Some(channel.as_int()),
            _ => {}
        }
    }
    None
}
