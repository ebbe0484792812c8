//! Training-time augmentation (YourMT3, spec section 6), on one training item at a time:
//!
//! 1. **Intra-stem** (`-iaug P`, [`intra_stem`]): of a multi-stem segment, keep each instrument
//!    (program; drums are 128) with probability P, at least one; the notes and ties of the
//!    dropped instruments go with their stems. A segment with an unannotated stem (129, e.g. an
//!    accompaniment) keeps its notes; with probability 1 - P it keeps the unannotated stem too
//!    and is then never mixed with other sources.
//! 2. **Cross-dataset stem mixing** (`-xk K`, [`cross_stem`]): add k ~ P(k) external sources
//!    (other draws of the sampler, any dataset; intra-stem augmented first with `-xiaug`), with
//!    YourMT3's overlap rules (`-xnio`, `-xndo`), stopping when the merged targets would not
//!    fit the task's rows (1024 tokens, or 256 per channel of `mc13_full_plus_256`: YourMT3
//!    used 1024 everywhere).
//! 3. **Amplitude** (`-amp LO HI`, [`mix`]): every kept stem gets a gain U(LO, HI) and the mix
//!    is their sum. YourMT3 then peak-normalises the mix to 1.0, so its random gain only ever
//!    changed the balance between stems, never the level; amt keeps the summed level (as the
//!    datasets' own mixes are sums of stems). The front-end normalises every spectrogram to
//!    [0, 1] anyway, so only the balance reaches the model either way.
//! 4. **Pitch shift** (`-ps LO HI`): a whole number of semitones s ~ U{LO..HI} per item (YourMT3
//!    draws one per sub-batch because its GPU layer shifts a sub-batch at once; on the CPU each
//!    item can have its own). The audio is shifted by [`amt_stages::audio::pitch_shift`] at its
//!    length, and the target notes are transposed by s (YourMT3 never transposed them: spec
//!    11.1 item 1); drums are not transposed, and notes leaving 0..127 are dropped and counted.
//!
//! Every random choice comes from an [`Rng`] seeded by (seed, draw), so an item is a pure
//! function of its draw number: the same seed gives the same batches, and a resumed stream
//! continues exactly.

use std::collections::BTreeSet;

use amt_symbolic::note::{DRUM_PROGRAM, UNANNOTATED_PROGRAM};
use amt_symbolic::{Note, transpose_notes};
use serde::{Deserialize, Serialize};

/// The augmentation flags of a run (`None` flags resolved to YourMT3's defaults, or off).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AugmentPolicy {
    /// `-iaug`: probability to keep each instrument of a multi-stem segment; 1 disables.
    pub stem_iaug_prob: f64,
    /// `-amp`: per-stem gain range.
    pub amp_range: (f64, f64),
    /// `-xk`: most external sources per item; 0 disables cross-dataset mixing.
    pub xaug_max_k: usize,
    /// `-xtau`, `-xalpha`: the survival function S(k) = exp(-(k tau)^alpha) of P(k).
    pub xaug_tau: f64,
    pub xaug_alpha: f64,
    /// `-xnio`: externals may not bring an instrument the item already has.
    pub no_instr_overlap: bool,
    /// `-xndo` (only without `-xnio`): externals' drums are dropped when the item has drums.
    pub no_drum_overlap: bool,
    /// `-xiaug`: intra-stem augmentation of the externals too.
    pub uhat_intra_stem: bool,
    /// `-ps`: the semitone range, inclusive; `(0, 0)` disables.
    pub pitch_shift: (i32, i32),
}

impl AugmentPolicy {
    /// No augmentation: the run reads stored spectrograms and tokens (the shards).
    pub fn off() -> AugmentPolicy {
        AugmentPolicy {
            stem_iaug_prob: 1.0,
            amp_range: (1.0, 1.0),
            xaug_max_k: 0,
            xaug_tau: 0.3,
            xaug_alpha: 1.0,
            no_instr_overlap: true,
            no_drum_overlap: true,
            uhat_intra_stem: true,
            pitch_shift: (0, 0),
        }
    }

    /// YourMT3's defaults (`config.py`'s `AUGMENTATION`).
    pub fn yourmt3() -> AugmentPolicy {
        AugmentPolicy {
            stem_iaug_prob: 0.7,
            amp_range: (0.8, 1.1),
            xaug_max_k: 3,
            pitch_shift: (-2, 2),
            ..AugmentPolicy::off()
        }
    }

    /// Whether anything changes the stored segments (else the run reads the shards).
    pub fn is_active(&self) -> bool {
        self.stem_iaug_prob < 1.0
            || self.amp_range != (1.0, 1.0)
            || self.xaug_max_k > 0
            || self.pitch_shift != (0, 0)
    }

    /// P(k) for k = 0..=max_k: S(k) - S(k+1), S(k) = exp(-(k tau)^alpha), S(max_k + 1) = 0.
    pub fn k_probabilities(&self) -> Vec<f64> {
        let s = |k: usize| -> f64 {
            if k > self.xaug_max_k {
                0.0
            } else {
                (-(k as f64 * self.xaug_tau).powf(self.xaug_alpha)).exp()
            }
        };
        (0..=self.xaug_max_k).map(|k| s(k) - s(k + 1)).collect()
    }

    /// Checks the ranges; the error names the flag.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..=1.0).contains(&self.stem_iaug_prob) {
            return Err(format!(
                "--stem-iaug-prob {}: a probability in [0, 1] (1 disables intra-stem augmentation)",
                self.stem_iaug_prob
            ));
        }
        let (lo, hi) = self.amp_range;
        if !(lo.is_finite() && hi.is_finite() && 0.0 < lo && lo <= hi) {
            return Err(format!(
                "--random-amp-range {lo} {hi}: two gains with 0 < LO <= HI (`1 1` disables)"
            ));
        }
        if self.xaug_tau <= 0.0 || self.xaug_alpha <= 0.0 {
            return Err("--xaug-tau and --xaug-alpha must be positive".into());
        }
        let (lo, hi) = self.pitch_shift;
        if lo > hi || lo < -12 || hi > 12 {
            return Err(format!(
                "--pitch-shift-range {lo} {hi}: semitones with -12 <= LO <= HI <= 12 (`0 0` disables)"
            ));
        }
        Ok(())
    }
}

/// A counter-based generator (splitmix64): `Rng::new(seed, stream, i)` gives the same numbers
/// for the same three values, whatever ran before.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64, stream: u64, i: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0xA076_1D64_78BD_642F));
        let z = r.next_u64() ^ i.wrapping_mul(0xE703_7ED1_A0B4_28DB);
        Rng(z)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Uniform in [lo, hi] (lo when equal).
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in lo..=hi.
    pub fn int_in(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as usize) as i32
    }

    /// An index drawn with the given probabilities.
    pub fn pick(&mut self, probabilities: &[f64]) -> usize {
        let mut u = self.uniform() * probabilities.iter().sum::<f64>();
        for (i, &p) in probabilities.iter().enumerate() {
            if u < p {
                return i;
            }
            u -= p;
        }
        probabilities.len().saturating_sub(1)
    }
}

/// The instrument a note or stem counts as: its program, 128 for drums.
pub fn instrument(program: u8, is_drum: bool) -> u8 {
    if is_drum { DRUM_PROGRAM } else { program }
}

/// One audio source of a segment: a stem (with its instrument) or a whole mix (`None`).
#[derive(Debug, Clone, PartialEq)]
pub struct StemAudio {
    pub instrument: Option<u8>,
    pub samples: Vec<f32>,
}

/// A segment of one track as augmentation takes it: its audio sources, the notes overlapping
/// it (absolute times of the item's time base) and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// The stems (`has_stems`), or the mix alone.
    pub stems: Vec<StemAudio>,
    pub has_stems: bool,
    /// Whether it carries audio nobody annotated (a 129 stem, or a mix of a track with one).
    pub unannotated: bool,
    pub notes: Vec<Note>,
    /// Where the segment starts in its track (seconds): notes are in this time base.
    pub window_start: f64,
    /// `dataset/track:start_sample`, for the dump.
    pub label: String,
}

impl Source {
    /// Instruments that have notes in the segment.
    pub fn note_instruments(&self) -> BTreeSet<u8> {
        self.notes
            .iter()
            .map(|n| instrument(n.program, n.is_drum))
            .collect()
    }

    /// Its instruments: the stems' (unannotated ones aside) or, for a mix, its notes'.
    pub fn instruments(&self) -> BTreeSet<u8> {
        if self.has_stems {
            self.stems
                .iter()
                .filter_map(|s| s.instrument)
                .filter(|&i| i != UNANNOTATED_PROGRAM)
                .collect()
        } else {
            self.note_instruments()
        }
    }

    /// Keeps only the stems and notes of `keep`'s instruments.
    pub fn keep_instruments(&mut self, keep: &BTreeSet<u8>) {
        self.stems
            .retain(|s| s.instrument.is_some_and(|i| keep.contains(&i)));
        self.notes
            .retain(|n| keep.contains(&instrument(n.program, n.is_drum)));
    }
}

/// Intra-stem augmentation (YourMT3 `drop_random_stems_from_bundle`), `p` the keep
/// probability. Stems whose instrument has no notes in the segment are dropped with the
/// others; a segment without notes, or without stems, is left as it is.
pub fn intra_stem(src: &mut Source, p: f64, rng: &mut Rng) {
    if !src.has_stems || p >= 1.0 {
        return;
    }
    let has_unannotated = src
        .stems
        .iter()
        .any(|s| s.instrument == Some(UNANNOTATED_PROGRAM));
    if has_unannotated {
        // Annotations unchanged; keep the unannotated stem with probability 1 - p.
        if rng.uniform() < 1.0 - p {
            src.unannotated = true;
        } else {
            src.stems
                .retain(|s| s.instrument != Some(UNANNOTATED_PROGRAM));
            src.unannotated = false;
        }
        return;
    }
    let present: Vec<u8> = src.note_instruments().into_iter().collect();
    if present.is_empty() {
        return;
    }
    let mut keep: BTreeSet<u8> = present
        .iter()
        .copied()
        .filter(|_| rng.uniform() < p)
        .collect();
    if keep.is_empty() {
        keep.insert(present[rng.below(present.len())]);
    }
    src.keep_instruments(&keep);
}

/// Cross-dataset stem mixing (YourMT3 `cross_stem_augment_processor`) into `base`: `k`
/// externals come from `next_external` (each considered once, skipped ones included, as
/// YourMT3's shared iterator consumes them); `fits` says whether merged notes still fit the
/// task's token rows. Returns how many were added.
pub fn cross_stem(
    base: &mut Source,
    k: usize,
    policy: &AugmentPolicy,
    mut next_external: impl FnMut() -> Result<Source, String>,
    fits: impl Fn(&[Note]) -> bool,
) -> Result<usize, String> {
    if base.unannotated || k == 0 {
        return Ok(0);
    }
    let mut gathered = base.instruments();
    let mut added = 0;
    for _ in 0..k {
        let mut ext = next_external()?;
        if ext.unannotated {
            continue;
        }
        let theirs = ext.instruments();
        if policy.no_instr_overlap {
            if !theirs.is_disjoint(&gathered) {
                let rest: BTreeSet<u8> = theirs.difference(&gathered).copied().collect();
                if !ext.has_stems || rest.is_empty() {
                    continue;
                }
                ext.keep_instruments(&rest);
            }
        } else if policy.no_drum_overlap
            && theirs.contains(&DRUM_PROGRAM)
            && gathered.contains(&DRUM_PROGRAM)
        {
            let rest: BTreeSet<u8> = theirs
                .iter()
                .copied()
                .filter(|&i| i != DRUM_PROGRAM)
                .collect();
            if !ext.has_stems || rest.is_empty() {
                continue;
            }
            ext.keep_instruments(&rest);
        }
        // Into the base's time base.
        let shift = base.window_start - ext.window_start;
        let mut merged = base.notes.clone();
        merged.extend(ext.notes.iter().map(|n| Note {
            onset: n.onset + shift,
            offset: n.offset + shift,
            ..*n
        }));
        if !fits(&merged) {
            break;
        }
        amt_symbolic::sort_notes(&mut merged);
        base.notes = merged;
        gathered.extend(ext.instruments());
        base.stems.extend(ext.stems);
        base.label = format!("{} + {}", base.label, ext.label);
        added += 1;
    }
    Ok(added)
}

/// The mix of a source's stems, each with a gain U(lo, hi); returns it and the gains.
pub fn mix(src: &Source, amp: (f64, f64), len: usize, rng: &mut Rng) -> (Vec<f32>, Vec<f32>) {
    let mut out = vec![0f32; len];
    let mut gains = Vec::with_capacity(src.stems.len());
    for s in &src.stems {
        let g = rng.between(amp.0, amp.1) as f32;
        gains.push(g);
        for (o, &x) in out.iter_mut().zip(&s.samples) {
            *o += g * x;
        }
    }
    (out, gains)
}

/// An augmented training item: the audio the model hears and the notes it must find.
#[derive(Debug, Clone)]
pub struct Augmented {
    pub audio: Vec<f32>,
    /// Notes in the item's time base (from `window_start`).
    pub notes: Vec<Note>,
    pub window_start: f64,
    pub semitones: i32,
    /// Notes dropped by the transposition (out of 0..127).
    pub dropped_notes: usize,
    pub externals: usize,
    pub gains: Vec<f32>,
    pub label: String,
}

/// The whole chain for one item: intra-stem, cross-stem, mix with gains, pitch shift. `rng`
/// is the item's; externals are drawn by `next_external` (already read, not yet augmented).
pub fn augment(
    mut primary: Source,
    policy: &AugmentPolicy,
    rng: &mut Rng,
    mut next_external: impl FnMut() -> Result<Source, String>,
    fits: impl Fn(&[Note]) -> bool,
) -> Result<Augmented, String> {
    let len = primary
        .stems
        .iter()
        .map(|s| s.samples.len())
        .max()
        .unwrap_or(0);
    intra_stem(&mut primary, policy.stem_iaug_prob, rng);
    let k = if policy.xaug_max_k > 0 {
        rng.pick(&policy.k_probabilities())
    } else {
        0
    };
    let mut ext_rng = Rng::new(rng.next_u64(), 2, 0);
    let externals = cross_stem(
        &mut primary,
        k,
        policy,
        || {
            let mut e = next_external()?;
            if policy.uhat_intra_stem {
                intra_stem(&mut e, policy.stem_iaug_prob, &mut ext_rng);
            }
            Ok(e)
        },
        fits,
    )?;
    let (mut audio, gains) = mix(&primary, policy.amp_range, len, rng);
    let (lo, hi) = policy.pitch_shift;
    let semitones = if (lo, hi) == (0, 0) {
        0
    } else {
        rng.int_in(lo, hi)
    };
    let mut notes = primary.notes;
    let mut dropped_notes = 0;
    if semitones != 0 {
        audio = amt_stages::audio::pitch_shift::pitch_shift(&audio, semitones)?;
        let (shifted, dropped) = transpose_notes(&notes, semitones);
        notes = shifted;
        dropped_notes = dropped;
    }
    Ok(Augmented {
        audio,
        notes,
        window_start: primary.window_start,
        semitones,
        dropped_notes,
        externals,
        gains,
        label: primary.label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::train::augmented::encode;
    use crate::train::infer::notes_from_rows;
    use amt_symbolic::tokenizer::{SAMPLE_RATE, SEGMENT_SAMPLES, Task};

    fn hz(pitch: u8) -> f64 {
        440.0 * 2f64.powf((f64::from(pitch) - 69.0) / 12.0)
    }

    fn sine(freq: f64) -> Vec<f32> {
        (0..SEGMENT_SAMPLES)
            .map(|i| {
                (0.3 * (2.0 * std::f64::consts::PI * freq * i as f64 / SAMPLE_RATE).sin()) as f32
            })
            .collect()
    }

    /// Power of `x` at `freq` (Goertzel), normalised by the length.
    fn power_at(x: &[f32], freq: f64) -> f64 {
        let w = 2.0 * std::f64::consts::PI * freq / SAMPLE_RATE;
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s = f64::from(v) + 2.0 * w.cos() * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2) / (x.len() as f64).powi(2)
    }

    fn note(program: u8, is_drum: bool, pitch: u8, onset: f64) -> Note {
        Note {
            is_drum,
            program: if is_drum { DRUM_PROGRAM } else { program },
            onset,
            offset: onset + if is_drum { 0.01 } else { 1.0 },
            pitch,
            velocity: 1,
        }
    }

    /// A multi-stem segment: each stem a sine at its note's pitch (drums: a sine too).
    fn stems_source(stems: &[(u8, bool, u8)], start: f64) -> Source {
        Source {
            stems: stems
                .iter()
                .map(|&(p, d, pitch)| StemAudio {
                    instrument: Some(instrument(p, d)),
                    samples: sine(hz(pitch)),
                })
                .collect(),
            has_stems: true,
            unannotated: false,
            notes: stems
                .iter()
                .map(|&(p, d, pitch)| note(p, d, pitch, start + 0.5))
                .collect(),
            window_start: start,
            label: "test".into(),
        }
    }

    /// The (instrument, pitch) of the notes the targets of `notes` decode to.
    fn decoded(task: &Task, notes: &[Note], t0: f64) -> BTreeSet<(u8, u8)> {
        let enc = encode(task, notes, t0).unwrap();
        let rows: Vec<Vec<i64>> = enc
            .tokens
            .chunks(task.max_len)
            .map(|r| r.iter().map(|&t| i64::from(t)).collect())
            .collect();
        notes_from_rows(&[rows], &[t0])
            .iter()
            .map(|n| (instrument(n.program, n.is_drum), n.pitch))
            .collect()
    }

    fn no_aug() -> AugmentPolicy {
        AugmentPolicy::off()
    }

    /// Intra-stem dropping: the audio is exactly the kept stems, the targets decode to exactly
    /// their notes, and the dropped stems' sines are gone from the audio.
    #[test]
    fn dropped_stems_leave_audio_and_targets_together() {
        let stems = [
            (0u8, false, 60u8),
            (33, false, 45),
            (0, true, 36),
            (40, false, 76),
        ];
        let policy = AugmentPolicy {
            stem_iaug_prob: 0.5,
            ..no_aug()
        };
        let task = Task::mt3_full_plus();
        let mut sizes = BTreeSet::new();
        for seed in 0..100 {
            let src = stems_source(&stems, 3.0);
            let mut rng = Rng::new(seed, 1, 0);
            let out = augment(src.clone(), &policy, &mut rng, || unreachable!(), |_| true).unwrap();
            let kept: BTreeSet<u8> = out
                .notes
                .iter()
                .map(|n| instrument(n.program, n.is_drum))
                .collect();
            assert!(!kept.is_empty());
            sizes.insert(kept.len());
            // The audio is the kept stems' sum (gains 1).
            let mut want = vec![0f32; SEGMENT_SAMPLES];
            for s in src
                .stems
                .iter()
                .filter(|s| kept.contains(&s.instrument.unwrap()))
            {
                for (w, &x) in want.iter_mut().zip(&s.samples) {
                    *w += x;
                }
            }
            let err = want
                .iter()
                .zip(&out.audio)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                err < 1e-6,
                "seed {seed}: audio differs from the kept stems by {err}"
            );
            // Heard iff kept, by the sines' power.
            for &(p, d, pitch) in &stems {
                let power = power_at(&out.audio, hz(pitch));
                if kept.contains(&instrument(p, d)) {
                    assert!(
                        power > 1e-3,
                        "seed {seed}: kept pitch {pitch} not heard ({power})"
                    );
                } else {
                    assert!(
                        power < 1e-5,
                        "seed {seed}: dropped pitch {pitch} heard ({power})"
                    );
                }
            }
            let want_targets: BTreeSet<(u8, u8)> = stems
                .iter()
                .filter(|&&(p, d, _)| kept.contains(&instrument(p, d)))
                .map(|&(p, d, pitch)| (instrument(p, d), pitch))
                .collect();
            assert_eq!(
                decoded(&task, &out.notes, out.window_start),
                want_targets,
                "seed {seed}"
            );
        }
        assert_eq!(sizes, BTreeSet::from([1, 2, 3, 4]), "keep counts seen");
    }

    /// A segment with an unannotated stem keeps its notes; it keeps the stem with probability
    /// 1 - P and is then never mixed with other sources.
    #[test]
    fn an_unannotated_stem_is_kept_or_dropped_whole() {
        let mut kept = 0;
        for seed in 0..200 {
            let mut src = stems_source(&[(0, false, 60)], 0.0);
            src.stems.push(StemAudio {
                instrument: Some(UNANNOTATED_PROGRAM),
                samples: sine(1000.0),
            });
            src.unannotated = true;
            intra_stem(&mut src, 0.7, &mut Rng::new(seed, 1, 0));
            assert_eq!(src.notes.len(), 1);
            let has = src.stems.len() == 2;
            assert_eq!(has, src.unannotated);
            kept += usize::from(has);
            let mut n = 0;
            let added = cross_stem(
                &mut src,
                3,
                &AugmentPolicy::yourmt3(),
                || {
                    n += 1;
                    Ok(stems_source(&[(40, false, 70)], 0.0))
                },
                |_| true,
            )
            .unwrap();
            assert_eq!(added > 0, !has, "mixed with an unannotated stem");
        }
        // P(keep) = 0.3.
        assert!((40..80).contains(&kept), "kept {kept} of 200");
    }

    /// Cross-stem mixing follows YourMT3's overlap rules, merges the externals' notes in the
    /// item's time base, and stops at the length guard.
    #[test]
    fn externals_merge_by_the_overlap_rules() {
        let policy = AugmentPolicy::yourmt3();
        let task = Task::mt3_full_plus();
        let mut base = stems_source(&[(0, false, 60)], 10.0);
        let externals = vec![
            // Same instrument, a mix: skipped.
            Source {
                has_stems: false,
                stems: vec![StemAudio {
                    instrument: None,
                    samples: sine(300.0),
                }],
                ..stems_source(&[(0, false, 62)], 4.0)
            },
            // Piano and bass stems: masked to the bass.
            stems_source(&[(0, false, 64), (33, false, 40)], 20.0),
            // Unannotated: skipped.
            Source {
                unannotated: true,
                ..stems_source(&[(48, false, 67)], 0.0)
            },
        ];
        let mut it = externals.into_iter();
        let added = cross_stem(&mut base, 3, &policy, || Ok(it.next().unwrap()), |_| true).unwrap();
        assert_eq!(added, 1);
        assert_eq!(base.stems.len(), 2);
        assert_eq!(base.instruments(), BTreeSet::from([0, 33]));
        // The bass note keeps its place in its window (0.5 s in), in the base's time base.
        let bass = base.notes.iter().find(|n| n.program == 33).unwrap();
        assert!((bass.onset - 10.5).abs() < 1e-9);
        assert_eq!(
            decoded(&task, &base.notes, 10.0),
            BTreeSet::from([(0, 60), (33, 40)])
        );
        // The audio holds exactly the kept stems: the base's piano and the external's bass;
        // not the external's piano (masked), the skipped mix or the unannotated source.
        let (audio, gains) = mix(&base, (1.0, 1.0), SEGMENT_SAMPLES, &mut Rng::new(1, 1, 1));
        assert_eq!(gains.len(), 2);
        for (freq, heard) in [
            (hz(60), true),
            (hz(40), true),
            (hz(64), false),
            (300.0, false),
            (hz(67), false),
        ] {
            let p = power_at(&audio, freq);
            assert_eq!(p > 1e-3, heard, "{freq} Hz: power {p}");
            assert!(heard || p < 1e-5, "{freq} Hz: power {p}");
        }
        // Drum overlap without -xnio: drums dropped from the external.
        let lax = AugmentPolicy {
            no_instr_overlap: false,
            ..AugmentPolicy::yourmt3()
        };
        let mut base = stems_source(&[(0, true, 36)], 0.0);
        let mut ext = Some(stems_source(&[(0, true, 38), (0, false, 60)], 0.0));
        cross_stem(&mut base, 1, &lax, || Ok(ext.take().unwrap()), |_| true).unwrap();
        assert_eq!(base.stems.len(), 2);
        assert_eq!(base.notes.iter().filter(|n| n.is_drum).count(), 1);
        // The length guard stops adding.
        let mut base = stems_source(&[(0, false, 60)], 0.0);
        let mut calls = 0;
        let added = cross_stem(
            &mut base,
            3,
            &policy,
            || {
                calls += 1;
                Ok(stems_source(&[(40 + calls, false, 70)], 0.0))
            },
            |notes| notes.len() <= 2,
        )
        .unwrap();
        assert_eq!((added, calls), (1, 2));
    }

    /// Pitch shift +2: a 440 Hz tone becomes 493.9 Hz (within 0.5 %), the length stays, the
    /// targets move by 2 (drums stay), and notes leaving the range are dropped and counted.
    #[test]
    fn pitch_shift_moves_audio_and_targets_together() {
        let policy = AugmentPolicy {
            pitch_shift: (2, 2),
            ..no_aug()
        };
        let mut src = stems_source(&[(0, false, 69), (0, true, 36)], 1.0);
        src.stems[1].samples = vec![0.0; SEGMENT_SAMPLES];
        src.notes.push(note(0, false, 127, 1.2));
        let out = augment(
            src,
            &policy,
            &mut Rng::new(3, 1, 0),
            || unreachable!(),
            |_| true,
        )
        .unwrap();
        assert_eq!(out.semitones, 2);
        assert_eq!(out.audio.len(), SEGMENT_SAMPLES);
        let mid = &out.audio[4000..SEGMENT_SAMPLES - 4000];
        let best = (0..=1600)
            .map(|k| 400.0 + k as f64 * 0.1)
            .max_by(|a, b| power_at(mid, *a).total_cmp(&power_at(mid, *b)))
            .unwrap();
        assert!((best / 493.883 - 1.0).abs() < 0.005, "dominant {best} Hz");
        assert_eq!(out.dropped_notes, 1);
        let task = Task::mt3_full_plus();
        assert_eq!(
            decoded(&task, &out.notes, out.window_start),
            BTreeSet::from([(0, 71), (DRUM_PROGRAM, 36)])
        );
    }

    #[test]
    fn k_probabilities_are_yourmt3s() {
        let mut p = AugmentPolicy::yourmt3();
        for (k, want) in [
            (2, vec![0.2592, 0.1920, 0.5488]),
            (3, vec![0.2592, 0.1920, 0.1422, 0.4066]),
            (5, vec![0.2592, 0.1920, 0.1422, 0.1054, 0.0781, 0.2231]),
        ] {
            p.xaug_max_k = k;
            let got = p.k_probabilities();
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "max_k {k}: {got:?}");
            }
            assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn the_generator_is_a_function_of_its_inputs() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 1, 9).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, 1, 9).next_u64(), Rng::new(7, 1, 10).next_u64());
        assert_ne!(Rng::new(7, 1, 9).next_u64(), Rng::new(7, 2, 9).next_u64());
        let mut r = Rng::new(1, 1, 1);
        let mut counts = [0usize; 5];
        for _ in 0..5000 {
            counts[(r.int_in(-2, 2) + 2) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
    }
}
