//! Codec ids, the spec's worked example (section 4.6), vocabularies, truncation, channels, ties.

use amt_symbolic::vocab::{self, EOS, PAD, TIE};
use amt_symbolic::{
    Event, Note, NoteEvent, NoteEventList, SEGMENT_SEC, Task, decode_tokens, note_events_to_events,
    token_name,
};

fn ne(is_drum: bool, program: u8, time: f64, velocity: u8, pitch: u8) -> NoteEvent {
    NoteEvent {
        is_drum,
        program,
        time,
        velocity,
        pitch,
    }
}

fn note(is_drum: bool, program: u8, onset: f64, offset: f64, pitch: u8) -> Note {
    Note {
        is_drum,
        program,
        onset,
        offset,
        pitch,
        velocity: 1,
    }
}

const WORKED: [u16; 11] = [340, 269, 339, 53, 338, 273, 504, 103, 337, 269, 1];

#[test]
fn worked_example_section_4_6() {
    // Segment at 0.0: piano C4 tied in, piano E4 and a kick at 0.50 s, C4 off at 1.00 s.
    let ties = [ne(false, 0, 0.0, 1, 60)];
    let events = [
        ne(true, 128, 0.5, 1, 36),
        ne(false, 0, 0.5, 1, 64),
        ne(false, 0, 1.0, 0, 60),
    ];
    let ev = note_events_to_events(&events, &ties, 0.0).unwrap();
    let names: Vec<String> = ev.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        names.join(" "),
        "program(0) pitch(60) tie shift(50) velocity(1) pitch(64) drum(36) shift(100) velocity(0) pitch(60)"
    );
    let enc = Task::mt3_full_plus()
        .encode_events(&events, &ties, 0.0)
        .unwrap();
    assert_eq!(enc.tokens.len(), 1024);
    assert_eq!(&enc.tokens[..11], &WORKED);
    assert!(enc.tokens[11..].iter().all(|&t| t == PAD));
    assert_eq!(enc.truncated, 0);
}

#[test]
fn worked_example_from_notes_in_a_later_segment() {
    // The same music shifted into segment 1 (start 2.0479375 s, start tick 205): shifts are
    // absolute within the segment, so the tokens are the same.
    let s = SEGMENT_SEC;
    let notes = vec![
        note(false, 0, 1.0, 3.05, 60), // sounding at the segment start: a tie
        note(false, 0, 2.55, 5.0, 64), // ends after the segment
        note(true, 128, 2.55, 2.56, 36),
    ];
    let list = NoteEventList::from_notes(&notes).unwrap();
    let enc = Task::mt3_full_plus().encode_segment(&list, s).unwrap();
    assert_eq!(&enc.tokens[..11], &WORKED);
    // Segment 0 holds the C4 onset at 1.0 s and nothing tied.
    let enc0 = Task::mt3_full_plus().encode_segment(&list, 0.0).unwrap();
    let names: Vec<String> = enc0.tokens[..6].iter().map(|&t| token_name(t)).collect();
    assert_eq!(
        names,
        [
            "tie",
            "shift(100)",
            "program(0)",
            "velocity(1)",
            "pitch(60)",
            "EOS"
        ]
    );
}

#[test]
fn token_ids_match_the_spec_table() {
    let cases = [
        (Event::Pad, 0),
        (Event::Eos, 1),
        (Event::Unk, 2),
        (Event::Shift(0), 3),
        (Event::Shift(205), 208),
        (Event::Pitch(0), 209),
        (Event::Pitch(127), 336),
        (Event::Velocity(0), 337),
        (Event::Velocity(1), 338),
        (Event::Tie, 339),
        (Event::Program(0), 340),
        (Event::Program(127), 467),
        (Event::Drum(0), 468),
        (Event::Drum(127), 595),
    ];
    for (e, id) in cases {
        assert_eq!(e.token().unwrap(), id, "{e}");
        assert_eq!(Event::from_token(id), Some(e));
    }
    assert_eq!(vocab::VOCAB_SIZE, 596);
    for t in 0..596u16 {
        assert_eq!(Event::from_token(t).unwrap().token().unwrap(), t);
    }
    assert_eq!(Event::from_token(596), None);
    assert!(Event::Shift(206).token().is_err());
    assert!(Event::Program(129).token().is_err());
    assert!(Event::Velocity(2).token().is_err());
    assert_eq!(token_name(15), "shift(12)");
    assert_eq!(token_name(269), "pitch(60)");
    assert_eq!(token_name(373), "program(33)");
    assert_eq!(token_name(504), "drum(36)");
    assert_eq!(token_name(1), "EOS");
    assert_eq!(token_name(700), "invalid(700)");
}

#[test]
fn training_vocabularies_remap_programs_and_drums() {
    let t = Task::mt3_full_plus();
    let cases = [
        (0, 0),
        (1, 0),
        (3, 0),
        (2, 2),
        (4, 2),
        (26, 26),
        (29, 29),
        (35, 32),
        (34, 33),
    ];
    for (raw, enc) in cases {
        assert_eq!(t.encoded_program(raw), enc, "program {raw}");
    }
    assert_eq!(t.encoded_program(72), 73); // Pipe's first program is 73
    assert_eq!(t.encoded_program(44), 48);
    assert_eq!(t.encoded_program(100), 100);
    assert_eq!(t.encoded_program(101), 101);
    assert_eq!(t.encoded_program(96), 96); // unmapped: raw
    for (raw, enc) in [
        (35, 36),
        (2, 37),
        (40, 38),
        (44, 42),
        (22, 42),
        (26, 46),
        (57, 49),
        (60, 60),
    ] {
        assert_eq!(t.encoded_drum(raw), enc, "drum {raw}");
    }
    let plain = Task::mt3_full_plus().without_remap();
    assert_eq!(plain.encoded_program(1), 1);
    assert_eq!(plain.encoded_drum(35), 35);

    // State is tracked on raw programs (as YourMT3 does): programs 0 and 1 both emit program(0).
    let events = [ne(false, 0, 0.1, 1, 60), ne(false, 1, 0.1, 1, 62)];
    let enc = t.encode_events(&events, &[], 0.0).unwrap();
    let names: Vec<String> = enc.tokens[..8].iter().map(|&x| token_name(x)).collect();
    assert_eq!(
        names,
        [
            "tie",
            "shift(10)",
            "program(0)",
            "velocity(1)",
            "pitch(60)",
            "program(0)",
            "pitch(62)",
            "EOS"
        ]
    );
}

#[test]
fn truncation_keeps_eos_and_reports_the_count() {
    // 1100 onsets at distinct ticks: 2 tokens each plus program/velocity once.
    let events: Vec<NoteEvent> = (0..1100)
        .map(|i| {
            ne(
                true,
                128,
                (i % 200) as f64 / 100.0 + 0.01,
                1,
                (i / 200) as u8 + 30,
            )
        })
        .collect();
    let task = Task::mt3_full_plus();
    let enc = task.encode_events(&events, &[], 0.0).unwrap();
    let full = note_events_to_events(&events, &[], 0.0).unwrap();
    assert_eq!(enc.tokens.len(), 1024);
    assert_eq!(enc.tokens[1023], EOS);
    assert_eq!(enc.truncated, full.len() + 1 - 1024);
    // Exactly max_len tokens with EOS: nothing is lost.
    let small = Task::mc13_full_plus_256();
    let few: Vec<NoteEvent> = (0..126)
        .map(|i| ne(false, 0, 0.01 * (i + 1) as f64, 1, 40 + (i % 2) as u8))
        .collect();
    let ev = note_events_to_events(&few, &[], 0.0).unwrap();
    let enc = small.encode_events(&few, &[], 0.0).unwrap();
    assert_eq!(ev.len(), 255); // with EOS exactly the row length
    assert_eq!(enc.truncated, 0);
    assert_eq!(enc.tokens[255], EOS);
}

#[test]
fn empty_segment_is_tie_eos_pad() {
    let list = NoteEventList::from_notes(&[]).unwrap();
    let enc = Task::mt3_full_plus().encode_segment(&list, 0.0).unwrap();
    assert_eq!(&enc.tokens[..3], &[TIE, EOS, PAD]);
    let enc = Task::mc13_full_plus_256()
        .encode_segment(&list, 0.0)
        .unwrap();
    assert_eq!(enc.tokens.len(), 13 * 256);
    for c in 0..13 {
        assert_eq!(&enc.channel(c)[..3], &[TIE, EOS, PAD]);
    }
}

#[test]
fn multichannel_routes_by_program_group_and_drops_unmapped() {
    let notes = vec![
        note(false, 1, 0.1, 0.5, 60),   // piano -> 0
        note(false, 33, 0.1, 0.5, 40),  // bass -> 4
        note(false, 100, 0.2, 0.5, 70), // singing -> 11
        note(true, 128, 0.3, 0.31, 36), // drums -> 12
        note(false, 96, 0.3, 0.6, 50),  // FX: no channel, dropped
        note(false, 72, 0.4, 0.6, 80),  // piccolo -> pipe 8, encoded as program 73
    ];
    let list = NoteEventList::from_notes(&notes).unwrap();
    let enc = Task::mc13_full_plus_256()
        .encode_segment(&list, 0.0)
        .unwrap();
    assert_eq!(enc.dropped_events, 2);
    let names = |c: usize| -> Vec<String> {
        enc.channel(c)
            .iter()
            .take_while(|&&t| t != EOS)
            .map(|&t| token_name(t))
            .collect()
    };
    assert_eq!(
        names(0),
        [
            "tie",
            "shift(10)",
            "program(0)",
            "velocity(1)",
            "pitch(60)",
            "shift(50)",
            "velocity(0)",
            "pitch(60)"
        ]
    );
    assert_eq!(names(4)[2], "program(33)");
    assert_eq!(names(11)[2], "program(100)");
    assert_eq!(names(12), ["tie", "shift(30)", "velocity(1)", "drum(36)"]);
    assert_eq!(names(8)[2], "program(73)");
    for c in [1, 2, 3, 5, 6, 7, 9, 10] {
        assert_eq!(names(c), ["tie"], "channel {c}");
    }
}

#[test]
fn ties_follow_notes_across_segments_and_decode_back() {
    let notes = vec![
        note(false, 40, 1.0, 5.0, 60), // spans segments 0, 1, 2
        note(false, 0, 1.5, 2.2, 64),  // spans 0 -> 1
        note(false, 0, 1.9, 2.0, 65),  // inside 0
    ];
    let list = NoteEventList::from_notes(&notes).unwrap();
    let s1 = list.segment(SEGMENT_SEC, SEGMENT_SEC);
    let tie_keys: Vec<(u8, u8)> = s1.ties.iter().map(|t| (t.program, t.pitch)).collect();
    assert_eq!(tie_keys, [(0, 64), (40, 60)]);
    let s2 = list.segment(2.0 * SEGMENT_SEC, SEGMENT_SEC);
    assert_eq!(s2.ties.len(), 1);
    let task = Task::mt3_full_plus();
    let enc = task.encode_segment(&list, SEGMENT_SEC).unwrap();
    let names: Vec<String> = enc.tokens[..5].iter().map(|&t| token_name(t)).collect();
    assert_eq!(
        names,
        ["program(0)", "pitch(64)", "program(40)", "pitch(60)", "tie"]
    );
    let dec = decode_tokens(&enc.tokens, SEGMENT_SEC);
    assert_eq!(dec.ties.len(), 2);
    assert_eq!(dec.last_activity, vec![(40, 60)]);
    assert_eq!(dec.errors.total(), 0);
}

#[test]
fn active_set_snapshots_agree_with_a_full_scan() {
    // Many overlapping notes so that queries cross snapshot boundaries.
    let mut notes = Vec::new();
    for i in 0..400u32 {
        let on = (i * 7 % 997) as f64 / 100.0;
        notes.push(note(
            i % 9 == 0,
            if i % 9 == 0 { 128 } else { (i % 5) as u8 },
            on,
            on + 0.01 + (i % 13) as f64 * 0.2,
            (i % 30) as u8 + 40,
        ));
    }
    let notes = amt_symbolic::mix_notes([notes]);
    let list = NoteEventList::from_notes(&notes).unwrap();
    let ev = list.events();
    for i in (0..=ev.len()).step_by(7) {
        // Reference: onsets before i whose offset is at or after i (multiset of keys).
        let mut want: Vec<(u8, u8)> = Vec::new();
        for e in &ev[..i] {
            if e.is_drum {
                continue;
            }
            if e.velocity > 0 {
                want.push((e.program, e.pitch));
            } else if let Some(p) = want.iter().position(|&k| k == (e.program, e.pitch)) {
                want.remove(p);
            }
        }
        want.sort();
        let got: Vec<(u8, u8)> = list
            .active_before(i)
            .iter()
            .map(|t| (t.program, t.pitch))
            .collect();
        assert_eq!(got, want, "index {i}");
    }
}

#[test]
fn invalid_notes_and_tasks_are_errors() {
    assert!(NoteEventList::from_notes(&[note(false, 0, 1.0, 1.0, 60)]).is_err());
    assert!(NoteEventList::from_notes(&[note(false, 0, f64::NAN, 1.0, 60)]).is_err());
    assert!(NoteEventList::from_notes(&[note(false, 0, 0.0, 1.0, 200)]).is_err());
    // A drum note may have offset == onset (only its onset is used).
    assert!(NoteEventList::from_notes(&[note(true, 128, 1.0, 1.0, 36)]).is_ok());
    assert!(Task::from_name("mt3_full_plus").is_ok());
    assert!(Task::from_name("mc13_full_plus_256").is_ok());
    let e = Task::from_name("mt3").unwrap_err().to_string();
    assert!(e.contains("mt3_full_plus"), "{e}");
    // Program 129 (unannotated) has no token in the single-channel task.
    let ev = [ne(false, 129, 0.5, 1, 60)];
    assert!(Task::mt3_full_plus().encode_events(&ev, &[], 0.0).is_err());
}

#[test]
fn segment_start_times_cover_the_file() {
    let s = amt_symbolic::segment_start_times(704.0);
    assert_eq!(s.len(), 344); // ceil(704 * 16000 / 32767)
    assert_eq!(s[1], 32767.0 / 16000.0);
    assert_eq!(s[343], 343.0 * 32767.0 / 16000.0);
    assert_eq!(amt_symbolic::segment_start_times(0.0), vec![0.0]);
    assert_eq!(amt_symbolic::segment_start_times(f64::INFINITY), vec![0.0]);
    assert_eq!(amt_symbolic::segment_start_times(f64::NAN), vec![0.0]);
    assert_eq!(
        amt_symbolic::segment_start_times_for_samples(32767).len(),
        1
    );
    assert_eq!(
        amt_symbolic::segment_start_times_for_samples(32768).len(),
        2
    );
    assert_eq!(amt_symbolic::segment_start_times(SEGMENT_SEC).len(), 1);
    assert_eq!(
        amt_symbolic::segment_start_times(SEGMENT_SEC + 1.0 / 16000.0).len(),
        2
    );
    // ties_at agrees with segment().ties.
    let notes = vec![note(false, 3, 0.5, 3.0, 60), note(true, 128, 1.0, 1.01, 36)];
    let list = NoteEventList::from_notes(&notes).unwrap();
    assert_eq!(list.ties_at(1.0), list.segment(1.0, SEGMENT_SEC).ties);
    assert_eq!(list.ties_at(1.0).len(), 1);
    // A note ending exactly at the start is still tied in (its offset event is in the segment).
    assert_eq!(list.ties_at(3.0).len(), 1);
    assert!(list.ties_at(3.0 + 1e-9).is_empty());
}
