//! Shared test helpers: fixture paths, golden values, tiny MIDI builders.
#![allow(dead_code)]

use std::path::PathBuf;

use midly::num::{u4, u7, u15, u24, u28};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

/// `$AMT_SHARED/fixtures`, else `../../shared/fixtures` from the crate (works from
/// /work/helpers/symbolic and from /work/main/symbolic).
pub fn fixtures() -> PathBuf {
    let dir = match std::env::var_os("AMT_SHARED") {
        Some(s) => PathBuf::from(s).join("fixtures"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    };
    assert!(
        dir.join("README.md").exists(),
        "fixtures not found at {}; set AMT_SHARED to the shared/ folder",
        dir.display()
    );
    dir
}

pub fn golden() -> serde_json::Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/golden.json");
    serde_json::from_str(&std::fs::read_to_string(&p).expect("golden.json")).expect("valid json")
}

/// A tiny event description for building test MIDI files.
#[derive(Clone, Copy)]
pub enum Ev {
    On(u8, u8, u8), // channel, key, velocity
    Off(u8, u8),    // channel, key (a real note_off message)
    Program(u8, u8),
    Cc(u8, u8, u8), // channel, controller, value
    Tempo(u32),
    Name(&'static str),
}

/// Build a format-1 (or 0 with one track) MIDI file from (delta ticks, event) lists.
pub fn build_midi(tpb: u16, tracks: &[Vec<(u32, Ev)>]) -> Vec<u8> {
    let tracks: Vec<Vec<TrackEvent<'static>>> = tracks
        .iter()
        .map(|t| {
            let mut v: Vec<TrackEvent<'static>> = t
                .iter()
                .map(|&(d, e)| TrackEvent {
                    delta: u28::new(d),
                    kind: kind(e),
                })
                .collect();
            v.push(TrackEvent {
                delta: u28::new(0),
                kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
            });
            v
        })
        .collect();
    let format = if tracks.len() == 1 {
        Format::SingleTrack
    } else {
        Format::Parallel
    };
    let smf = Smf {
        header: Header::new(format, Timing::Metrical(u15::new(tpb))),
        tracks,
    };
    let mut out = Vec::new();
    smf.write_std(&mut out).unwrap();
    out
}

fn kind(e: Ev) -> TrackEventKind<'static> {
    let midi = |ch: u8, message| TrackEventKind::Midi {
        channel: u4::new(ch),
        message,
    };
    match e {
        Ev::On(ch, key, vel) => midi(
            ch,
            MidiMessage::NoteOn {
                key: u7::new(key),
                vel: u7::new(vel),
            },
        ),
        Ev::Off(ch, key) => midi(
            ch,
            MidiMessage::NoteOff {
                key: u7::new(key),
                vel: u7::new(64),
            },
        ),
        Ev::Program(ch, p) => midi(
            ch,
            MidiMessage::ProgramChange {
                program: u7::new(p),
            },
        ),
        Ev::Cc(ch, c, v) => midi(
            ch,
            MidiMessage::Controller {
                controller: u7::new(c),
                value: u7::new(v),
            },
        ),
        Ev::Tempo(t) => TrackEventKind::Meta(MetaMessage::Tempo(u24::new(t))),
        Ev::Name(n) => TrackEventKind::Meta(MetaMessage::TrackName(n.as_bytes())),
    }
}

/// (onset, offset, pitch, program, is_drum) of each note, for compact assertions.
pub fn brief(notes: &[amt_symbolic::Note]) -> Vec<(f64, f64, u8, u8, bool)> {
    notes
        .iter()
        .map(|n| (n.onset, n.offset, n.pitch, n.program, n.is_drum))
        .collect()
}
