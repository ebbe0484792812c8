//! Onset+offset note F1 (mir_eval defaults) on 10,000 vs 10,000 random notes.

use std::hint::black_box;

use amt_metrics::{NoteMatchParams, midi_to_hz, precision_recall_f1_overlap};
use criterion::{Criterion, criterion_group, criterion_main};

/// xorshift64*: a seeded generator so runs are comparable without `rand`.
struct XorShift(u64);

impl XorShift {
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Notes = (Vec<[f64; 2]>, Vec<f64>);

/// About 10 notes per second over 1000 s, pitches 40..80: dense enough that
/// many estimates have several candidates.
fn random_notes(rng: &mut XorShift, n: usize) -> Notes {
    let mut intervals = Vec::with_capacity(n);
    let mut pitches = Vec::with_capacity(n);
    for _ in 0..n {
        let onset = rng.next_f64() * 1000.0;
        let duration = 0.05 + rng.next_f64() * 1.0;
        intervals.push([onset, onset + duration]);
        pitches.push(midi_to_hz((40.0 + rng.next_f64() * 40.0).floor()));
    }
    (intervals, pitches)
}

/// Estimates: reference notes jittered by up to 60 ms (some out of
/// tolerance), 10% with a wrong pitch.
fn jitter(rng: &mut XorShift, (iv, hz): &Notes) -> Notes {
    let mut out_iv = Vec::with_capacity(iv.len());
    let mut out_hz = Vec::with_capacity(hz.len());
    for (i, h) in iv.iter().zip(hz) {
        let d_on = (rng.next_f64() - 0.5) * 0.12;
        let d_off = (rng.next_f64() - 0.5) * 0.2;
        let onset = (i[0] + d_on).max(0.0);
        let offset = (i[1] + d_off).max(onset + 0.01);
        out_iv.push([onset, offset]);
        out_hz.push(if rng.next_f64() < 0.1 { h * 1.06 } else { *h });
    }
    (out_iv, out_hz)
}

fn bench(c: &mut Criterion) {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let reference = random_notes(&mut rng, 10_000);
    let estimate = jitter(&mut rng, &reference);
    let params = NoteMatchParams::default();
    c.bench_function("onset_offset_f1_10k_vs_10k", |b| {
        b.iter(|| {
            precision_recall_f1_overlap(
                black_box(&reference.0),
                black_box(&reference.1),
                black_box(&estimate.0),
                black_box(&estimate.1),
                &params,
            )
            .unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
