//! MAESTRO fixture (704 s, 4194 notes after pedal): MIDI -> notes, notes -> note events, and
//! tokenisation of every 2.048 s evaluation segment (344 segments) for both tasks.

use std::hint::black_box;
use std::path::PathBuf;

use amt_symbolic::datasets::maestro_notes;
use amt_symbolic::{NoteEventList, Task, segment_start_times};
use criterion::{Criterion, criterion_group, criterion_main};

fn maestro_bytes() -> Vec<u8> {
    let base = match std::env::var_os("AMT_SHARED") {
        Some(s) => PathBuf::from(s).join("fixtures"),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"),
    };
    let p = base.join("maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn bench(c: &mut Criterion) {
    let bytes = maestro_bytes();
    let (notes, duration) = maestro_notes(&bytes).unwrap();
    let list = NoteEventList::from_notes(&notes).unwrap();
    let starts = segment_start_times(duration);

    c.bench_function("maestro_midi_to_notes", |b| {
        b.iter(|| maestro_notes(black_box(&bytes)).unwrap())
    });
    c.bench_function("maestro_notes_to_note_events", |b| {
        b.iter(|| NoteEventList::from_notes(black_box(&notes)).unwrap())
    });
    for task in [Task::mt3_full_plus(), Task::mc13_full_plus_256()] {
        let name = format!("maestro_tokenize_all_segments_{:?}", task.name);
        c.bench_function(&name, |b| {
            b.iter(|| {
                let mut n = 0usize;
                for &s in &starts {
                    n += task
                        .encode_segment(black_box(&list), s)
                        .unwrap()
                        .tokens
                        .len();
                }
                n
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
