//! Notes -> MIDI bytes (YourMT3 `note_event2midi`, spec section 10).
//!
//! Type 1, 480 ticks per beat, no tempo event (120 bpm default), an empty first track, then one
//! track per program in ascending order: channels 0-8 and 10-15 in that order (overflow shares
//! 15), drums on channel index 9. Singing 100 -> program 65, chorus 101 -> 53, drums 0. Note-on
//! velocity 100; drum notes get a note-off 10 ms after the onset.

use midly::num::{u4, u7, u15, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use crate::error::Result;
use crate::note::{DRUM_PROGRAM, Note, SINGING_CHORUS_PROGRAM, SINGING_PROGRAM};

const TICKS_PER_BEAT: u16 = 480;
/// Ticks per second at the default 500000 us/beat.
const TICKS_PER_SEC: f64 = TICKS_PER_BEAT as f64 / 0.5;

/// Write notes as a type-1 MIDI file (see the module doc for the layout).
pub fn notes_to_midi(notes: &[Note]) -> Result<Vec<u8>> {
    let program_of = |n: &Note| {
        if n.is_drum || n.program == DRUM_PROGRAM {
            DRUM_PROGRAM
        } else {
            n.program
        }
    };
    let mut programs: Vec<u8> = notes.iter().map(program_of).collect();
    programs.sort_unstable();
    programs.dedup();

    let mut free: Vec<u8> = (0..9).chain(10..16).collect();
    free.reverse();
    let names: Vec<String> = programs
        .iter()
        .map(|&p| {
            if p == DRUM_PROGRAM {
                "Drums".to_string()
            } else {
                format!("Prg. {p}")
            }
        })
        .collect();

    let mut tracks: Vec<Vec<TrackEvent<'_>>> = vec![vec![end_of_track(0)]];
    for (&program, name) in programs.iter().zip(&names) {
        let channel = if program == DRUM_PROGRAM {
            9
        } else {
            free.pop().unwrap_or(15)
        };
        let gm_program = match program {
            DRUM_PROGRAM => 0,
            SINGING_PROGRAM => 65,
            SINGING_CHORUS_PROGRAM => 53,
            p => p.min(127),
        };
        // (time, is_drum, velocity, pitch) events of this program.
        let mut evs: Vec<(f64, u8, u8)> = Vec::new();
        for n in notes.iter().filter(|n| program_of(n) == program) {
            evs.push((n.onset, 1, n.pitch.min(127)));
            let off = if program == DRUM_PROGRAM {
                n.onset + 0.01
            } else {
                n.offset
            };
            evs.push((off, 0, n.pitch.min(127)));
        }
        evs.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

        let ch = u4::new(channel);
        let mut track = vec![
            TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::TrackName(name.as_bytes())),
            },
            TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Midi {
                    channel: ch,
                    message: MidiMessage::ProgramChange {
                        program: u7::new(gm_program),
                    },
                },
            },
        ];
        let mut current: u64 = 0;
        for (t, on, pitch) in evs {
            let abs = (t.max(0.0) * TICKS_PER_SEC).round_ties_even() as u64;
            let delta = abs.saturating_sub(current);
            current = current.max(abs);
            let message = if on == 1 {
                MidiMessage::NoteOn {
                    key: u7::new(pitch),
                    vel: u7::new(100),
                }
            } else {
                MidiMessage::NoteOff {
                    key: u7::new(pitch),
                    vel: u7::new(0),
                }
            };
            track.push(TrackEvent {
                delta: u28::new(delta.min(u64::from(u28::max_value().as_int())) as u32),
                kind: TrackEventKind::Midi {
                    channel: ch,
                    message,
                },
            });
        }
        track.push(end_of_track(0));
        tracks.push(track);
    }
    let smf = Smf {
        header: Header::new(Format::Parallel, Timing::Metrical(u15::new(TICKS_PER_BEAT))),
        tracks,
    };
    let mut out = Vec::new();
    smf.write_std(&mut out)
        .map_err(|e| crate::error::Error::io("<in-memory MIDI>", e))?;
    Ok(out)
}

fn end_of_track(delta: u32) -> TrackEvent<'static> {
    TrackEvent {
        delta: u28::new(delta),
        kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
    }
}
