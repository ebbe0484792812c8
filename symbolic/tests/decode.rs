//! Decoder error accounting (spec 4.7), segment merging, long-note guard, and MIDI writing.

use amt_symbolic::vocab::{
    DRUM_BASE, EOS, PAD, PITCH_BASE, PROGRAM_BASE, SHIFT_BASE, TIE, UNK, VELOCITY_BASE,
};
use amt_symbolic::{
    DecodeErrorKind as K, Note, SEGMENT_SEC, Token, decode_tokens, merge_segments, notes_to_midi,
};

fn shift(v: u16) -> Token {
    SHIFT_BASE + v
}
fn pitch(p: u16) -> Token {
    PITCH_BASE + p
}
fn vel(v: u16) -> Token {
    VELOCITY_BASE + v
}
fn prog(p: u16) -> Token {
    PROGRAM_BASE + p
}
fn drum(p: u16) -> Token {
    DRUM_BASE + p
}

#[test]
fn missing_tie_drops_the_segment() {
    let seg = decode_tokens(
        &[prog(0), pitch(60), shift(10), vel(1), pitch(62), EOS],
        0.0,
    );
    assert_eq!(seg.errors.get(K::MissingTie), 1);
    assert!(seg.note_events.is_empty() && seg.ties.is_empty() && seg.last_activity.is_empty());
    assert_eq!(seg.errors.by_name()["Err/Missing tie"], 1);
}

#[test]
fn each_error_kind_is_counted_and_the_token_skipped() {
    let toks = [
        pitch(50), // tie section without program
        TIE,
        shift(0),  // out of range
        pitch(60), // no program yet
        prog(0),
        pitch(60), // no velocity yet
        TIE,       // second tie at the start tick: type 1
        shift(20),
        vel(0),
        pitch(61), // note-off never opened
        600,       // outside the vocabulary
        TIE,       // second tie after a shift: type 2
        vel(1),
        pitch(62), // fine
        PAD,
        UNK,
        drum(36), // fine, velocity state irrelevant
        EOS,
        pitch(70), // after EOS: not read
    ];
    let seg = decode_tokens(&toks, 0.0);
    for (k, n) in [
        (K::MissingProgramInTie, 1),
        (K::ShiftOutOfRange, 1),
        (K::MissingProgram, 1),
        (K::MissingVelocity, 1),
        (K::MultiTieType1, 1),
        (K::NoteOffWithoutNoteOn, 1),
        (K::UnknownEvent, 1),
        (K::MultiTieType2, 1),
    ] {
        assert_eq!(seg.errors.get(k), n, "{k:?}");
    }
    assert_eq!(seg.errors.total(), 8);
    assert_eq!(seg.tokens_read, toks.len() - 1);
    assert_eq!(seg.tokens_ignored, 2);
    assert_eq!(seg.tokens_used + seg.tokens_ignored + 8, seg.tokens_read);
    let times: Vec<(bool, u8, f64)> = seg
        .note_events
        .iter()
        .map(|e| (e.is_drum, e.pitch, e.time))
        .collect();
    assert_eq!(times, vec![(false, 62, 0.2), (true, 36, 0.2)]);
    assert_eq!(seg.last_activity, vec![(0, 62)]);
}

#[test]
fn shifts_are_absolute_in_the_segment() {
    let start = SEGMENT_SEC; // start tick 205
    let seg = decode_tokens(
        &[
            TIE,
            shift(5),
            prog(3),
            vel(1),
            pitch(60),
            shift(7),
            vel(0),
            pitch(60),
            EOS,
        ],
        start,
    );
    let t: Vec<f64> = seg.note_events.iter().map(|e| e.time).collect();
    assert_eq!(t, vec![2.1, 2.12]);
    let (notes, errors) = merge_segments(&[seg]);
    assert_eq!(errors.total(), 0);
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].onset, notes[0].offset, notes[0].program),
        (2.1, 2.12, 3)
    );
}

#[test]
fn merge_continues_tied_notes_and_closes_missing_ties() {
    let s1 = SEGMENT_SEC;
    let s2 = 2.0 * SEGMENT_SEC;
    // Segment 0: two notes start and stay on.
    let a = decode_tokens(
        &[TIE, shift(100), prog(0), vel(1), pitch(60), pitch(64), EOS],
        0.0,
    );
    // Segment 1: only 60 is tied in (64 is missing: closed at s1); 60 ends at tick 205 + 50.
    let b = decode_tokens(
        &[prog(0), pitch(60), TIE, shift(50), vel(0), pitch(60), EOS],
        s1,
    );
    // Segment 2: a tie with no preceding onset and its note-off: onset not found.
    let c = decode_tokens(
        &[prog(5), pitch(40), TIE, shift(3), vel(0), pitch(40), EOS],
        s2,
    );
    assert_eq!(a.last_activity, vec![(0, 60), (0, 64)]);
    assert!(b.last_activity.is_empty());
    let (notes, errors) = merge_segments(&[a, b, c]);
    assert_eq!(errors.get(K::MergingSegmentTie), 1);
    assert_eq!(errors.get(K::OnsetNotFound), 1);
    assert_eq!(errors.total(), 2);
    let got: Vec<(f64, f64, u8)> = notes.iter().map(|n| (n.onset, n.offset, n.pitch)).collect();
    assert_eq!(got, vec![(1.0, 2.55, 60), (1.0, s1, 64)]);
}

#[test]
fn onset_on_a_sounding_note_restarts_it_and_open_notes_get_10ms() {
    let seg = decode_tokens(
        &[
            TIE,
            shift(10),
            prog(0),
            vel(1),
            pitch(60),
            shift(30),
            pitch(60),
            EOS,
        ],
        0.0,
    );
    let (notes, errors) = merge_segments(&[seg]);
    assert_eq!(errors.total(), 0);
    let got: Vec<(f64, f64)> = notes.iter().map(|n| (n.onset, n.offset)).collect();
    assert_eq!(got, vec![(0.1, 0.3), (0.3, 0.3 + 0.01)]);
}

#[test]
fn long_note_guard_cuts_notes_over_10_seconds() {
    let mut segs = vec![decode_tokens(
        &[TIE, shift(1), prog(0), vel(1), pitch(60), EOS],
        0.0,
    )];
    for i in 1..7 {
        let s = i as f64 * SEGMENT_SEC;
        let toks: Vec<Token> = if i < 6 {
            vec![prog(0), pitch(60), TIE, EOS]
        } else {
            vec![prog(0), pitch(60), TIE, shift(10), vel(0), pitch(60), EOS]
        };
        segs.push(decode_tokens(&toks, s));
    }
    let (notes, errors) = merge_segments(&segs);
    assert_eq!(errors.get(K::LongNote), 1);
    assert_eq!(notes.len(), 1);
    assert_eq!((notes[0].onset, notes[0].offset), (0.01, 0.01 + 0.01));
    // Nine seconds is kept.
    let a = decode_tokens(&[TIE, shift(1), prog(0), vel(1), pitch(60), EOS], 0.0);
    let mut segs = vec![a];
    for i in 1..5 {
        let s = i as f64 * SEGMENT_SEC;
        let toks: Vec<Token> = if i < 4 {
            vec![prog(0), pitch(60), TIE, EOS]
        } else {
            vec![prog(0), pitch(60), TIE, shift(10), vel(0), pitch(60), EOS]
        };
        segs.push(decode_tokens(&toks, s));
    }
    let (notes, errors) = merge_segments(&segs);
    assert_eq!(errors.total(), 0);
    assert!(notes[0].offset - notes[0].onset > 8.0);
}

#[test]
fn written_midi_layout() {
    let n = |program: u8, is_drum: bool, pitch: u8| Note {
        is_drum,
        program,
        onset: 0.5,
        offset: 1.0,
        pitch,
        velocity: 1,
    };
    let notes = vec![
        n(100, false, 70),
        n(101, false, 72),
        n(128, true, 36),
        n(33, false, 40),
    ];
    let bytes = notes_to_midi(&notes).unwrap();
    let smf = midly::Smf::parse(&bytes).unwrap();
    assert_eq!(smf.header.format, midly::Format::Parallel);
    assert_eq!(
        smf.header.timing,
        midly::Timing::Metrical(midly::num::u15::new(480))
    );
    assert_eq!(smf.tracks.len(), 5); // empty first track + 4 programs
    // (track name, channel, program_change, first note tick, velocity) per track.
    let mut seen = Vec::new();
    for t in &smf.tracks[1..] {
        let mut name = String::new();
        let mut info = (0u8, 0u8, 0u32, 0u8);
        let mut tick = 0u32;
        for ev in t {
            tick += ev.delta.as_int();
            match ev.kind {
                midly::TrackEventKind::Meta(midly::MetaMessage::TrackName(b)) => {
                    name = String::from_utf8_lossy(b).into_owned()
                }
                midly::TrackEventKind::Midi { channel, message } => match message {
                    midly::MidiMessage::ProgramChange { program } => {
                        info.0 = channel.as_int();
                        info.1 = program.as_int();
                    }
                    midly::MidiMessage::NoteOn { vel, .. } if info.2 == 0 => {
                        info.2 = tick;
                        info.3 = vel.as_int();
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        seen.push((name, info));
    }
    assert_eq!(
        seen,
        vec![
            ("Prg. 33".to_string(), (0, 33, 480, 100)),
            ("Prg. 100".to_string(), (1, 65, 480, 100)),
            ("Prg. 101".to_string(), (2, 53, 480, 100)),
            ("Drums".to_string(), (9, 0, 480, 100)),
        ]
    );
}
