//! Frame-level (piano-roll) metrics as YourMT3 computes them: a binary roll
//! at a 62.5 ms hop scored with `mir_eval.multipitch` semantics.
//!
//! Each roll frame is a 128-bit pitch set, so a frame's true positives are a
//! popcount. With integer MIDI pitches, mir_eval's per-frame matching within
//! half a semitone is exactly set intersection, and its chroma matching is
//! `sum over pitch classes of min(ref count, est count)`.

use crate::error::{Error, Result, Side};
use crate::util::f1_measure;

/// YourMT3's frame hop in seconds.
pub const FRAME_HOP: f64 = 0.0625;
/// Lowest pitch kept in the roll (mir_eval's 20 Hz lower frequency bound).
pub const FRAME_PITCH_MIN: u8 = 16;
/// First pitch dropped from the roll (mir_eval's 5 kHz upper bound).
pub const FRAME_PITCH_END: u8 = 110;
/// `mir_eval.multipitch.MAX_TIME`: frame times beyond it are rejected.
pub const MAX_FRAME_TIME: f64 = 30000.0;

/// A binary piano roll: frame `t` covers `[t * hop, (t + 1) * hop)`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PianoRoll {
    frames: Vec<u128>,
}

impl PianoRoll {
    /// Builds the roll from `(onset, offset, pitch)` triples.
    ///
    /// The roll has `int(last_offset / hop)` frames where `last_offset` is
    /// the largest offset over **all** notes. YourMT3 takes the maximum over
    /// only the last 20 notes of the list (spec 11.1 item 13), which can cut
    /// the roll short when a long note ends late but starts early; we fix
    /// that here. A note covers frames `[int(on/h), max(int(off/h),
    /// int(on/h) + 1))`, clipped to the roll; pitches outside 16..110 are
    /// dropped, as YourMT3 zeroes them for mir_eval's frequency limits.
    /// A roll whose last frame time exceeds [`MAX_FRAME_TIME`] is an error
    /// (mir_eval raises too), which also bounds the allocation; `side` only
    /// labels that error.
    pub fn from_notes(
        notes: impl IntoIterator<Item = (f64, f64, u8)>,
        hop: f64,
        side: Side,
    ) -> Result<Self> {
        if !(hop.is_finite() && hop > 0.0) {
            return Err(Error::InvalidParameter {
                name: "hop",
                value: hop,
                expected: "a finite value > 0",
            });
        }
        let notes: Vec<(f64, f64, u8)> = notes.into_iter().collect();
        let last_offset = notes.iter().map(|n| n.1).fold(f64::NEG_INFINITY, f64::max);
        if notes.is_empty() || last_offset.is_nan() || last_offset <= 0.0 {
            return Ok(Self::default());
        }
        let n_frames = (last_offset / hop) as usize;
        if n_frames > 0 && (n_frames - 1) as f64 * hop > MAX_FRAME_TIME {
            return Err(Error::TooLong {
                side,
                seconds: last_offset,
                max: MAX_FRAME_TIME,
            });
        }
        let mut frames = vec![0u128; n_frames];
        for (onset, offset, pitch) in notes {
            if !(FRAME_PITCH_MIN..FRAME_PITCH_END).contains(&pitch) {
                continue;
            }
            let start = (onset / hop) as usize;
            let end = ((offset / hop) as usize).max(start + 1).min(n_frames);
            for f in frames.iter_mut().take(end).skip(start) {
                *f |= 1u128 << pitch;
            }
        }
        Ok(Self { frames })
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the roll has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Number of active (frame, pitch) cells.
    pub fn active_cells(&self) -> u64 {
        self.frames.iter().map(|f| u64::from(f.count_ones())).sum()
    }

    /// Pitches active in frame `t` (empty past the end).
    pub fn frame(&self, t: usize) -> u128 {
        self.frames.get(t).copied().unwrap_or(0)
    }
}

/// `mir_eval.multipitch` precision and recall, plain and chroma.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultipitchScores {
    pub precision: f64,
    pub recall: f64,
    pub chroma_precision: f64,
    pub chroma_recall: f64,
}

fn chroma_counts(mut bits: u128) -> [u32; 12] {
    let mut c = [0u32; 12];
    while bits != 0 {
        let p = bits.trailing_zeros();
        c[(p % 12) as usize] += 1;
        bits &= bits - 1;
    }
    c
}

/// Scores an estimated roll against a reference roll as
/// `mir_eval.multipitch.metrics` does when both share the hop: the estimate
/// is resampled onto the reference's frames, so estimated frames past the
/// reference's end are ignored and missing ones count as silent. A ratio
/// with a zero denominator is 0, as in mir_eval.
pub fn multipitch_scores(reference: &PianoRoll, estimate: &PianoRoll) -> MultipitchScores {
    let (mut tp, mut tp_chroma, mut n_ref, mut n_est) = (0u64, 0u64, 0u64, 0u64);
    for t in 0..reference.len() {
        let r = reference.frame(t);
        let e = estimate.frame(t);
        n_ref += u64::from(r.count_ones());
        n_est += u64::from(e.count_ones());
        tp += u64::from((r & e).count_ones());
        if r != 0 && e != 0 {
            let (cr, ce) = (chroma_counts(r), chroma_counts(e));
            tp_chroma += cr
                .iter()
                .zip(&ce)
                .map(|(a, b)| u64::from(*a.min(b)))
                .sum::<u64>();
        }
    }
    let ratio = |num: u64, den: u64| {
        if den > 0 {
            num as f64 / den as f64
        } else {
            0.0
        }
    };
    MultipitchScores {
        precision: ratio(tp, n_est),
        recall: ratio(tp, n_ref),
        chroma_precision: ratio(tp_chroma, n_est),
        chroma_recall: ratio(tp_chroma, n_ref),
    }
}

/// YourMT3's `frame_f` and `frame_f_pc` with its empty-roll rules: both NaN
/// when the reference roll is empty, both 0 when only the estimate is.
pub fn frame_f1(reference: &PianoRoll, estimate: &PianoRoll) -> (f64, f64) {
    let ref_active = reference.active_cells() > 0;
    let est_active = estimate.active_cells() > 0;
    match (ref_active, est_active) {
        (false, _) => (f64::NAN, f64::NAN),
        (true, false) => (0.0, 0.0),
        (true, true) => {
            let s = multipitch_scores(reference, estimate);
            (
                f1_measure(s.precision, s.recall),
                f1_measure(s.chroma_precision, s.chroma_recall),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_frames_and_pitch_limits() {
        // 0.1..0.3 s at hop 0.0625 -> frames [1, 4); pitch 15 and 110 dropped.
        let roll = PianoRoll::from_notes(
            [
                (0.1, 0.3, 60),
                (0.0, 0.5, 15),
                (0.0, 0.5, 110),
                (0.45, 0.5, 61),
            ],
            FRAME_HOP,
            Side::Reference,
        )
        .unwrap();
        assert_eq!(roll.len(), 8);
        assert_eq!(roll.frame(0), 0);
        assert_eq!(roll.frame(1), 1u128 << 60);
        assert_eq!(roll.frame(3), 1u128 << 60);
        assert_eq!(roll.frame(4), 0);
        // Short note: at least one frame (int(0.45/h) = 7).
        assert_eq!(roll.frame(7), 1u128 << 61);
        assert_eq!(roll.active_cells(), 4);
    }

    #[test]
    fn roll_length_uses_true_last_offset() {
        // One long early note followed by 20 short ones: YourMT3's
        // "last 20 notes" rule would give int(2.95 / h) = 47 frames; we
        // keep all 10 s.
        let mut notes = vec![(0.0, 10.0, 60u8)];
        notes.extend((0..20).map(|i| (1.0 + f64::from(i) * 0.1, 1.05 + f64::from(i) * 0.1, 62u8)));
        let roll = PianoRoll::from_notes(notes, FRAME_HOP, Side::Reference).unwrap();
        assert_eq!(roll.len(), 160);
        assert_eq!(roll.frame(159), 1u128 << 60);
    }

    #[test]
    fn chroma_counts_octaves() {
        // ref {C4, C5}, est {C4, E4}: 1 exact TP, 1 chroma TP.
        let r = PianoRoll::from_notes(
            [(0.0, 0.0625, 60), (0.0, 0.0625, 72)],
            FRAME_HOP,
            Side::Estimate,
        )
        .unwrap();
        let e = PianoRoll::from_notes(
            [(0.0, 0.0625, 60), (0.0, 0.0625, 64)],
            FRAME_HOP,
            Side::Estimate,
        )
        .unwrap();
        let s = multipitch_scores(&r, &e);
        assert_eq!((s.precision, s.recall), (0.5, 0.5));
        assert_eq!((s.chroma_precision, s.chroma_recall), (0.5, 0.5));
        let e2 = PianoRoll::from_notes([(0.0, 0.0625, 48)], FRAME_HOP, Side::Estimate).unwrap();
        let s2 = multipitch_scores(&r, &e2);
        assert_eq!(
            (s2.precision, s2.chroma_precision, s2.chroma_recall),
            (0.0, 1.0, 0.5)
        );
    }

    #[test]
    fn overlong_roll_is_an_error() {
        let ok = PianoRoll::from_notes([(0.0, 30000.0, 60)], FRAME_HOP, Side::Reference);
        assert_eq!(ok.unwrap().len(), 480_000);
        let e = PianoRoll::from_notes([(0.0, 40000.0, 60)], FRAME_HOP, Side::Estimate).unwrap_err();
        assert!(
            e.to_string().contains("estimated notes end at 40000 s"),
            "{e}"
        );
        let e = PianoRoll::from_notes([(0.0, 1.0, 60)], 0.0, Side::Estimate).unwrap_err();
        assert!(matches!(e, Error::InvalidParameter { name: "hop", .. }));
    }
}
