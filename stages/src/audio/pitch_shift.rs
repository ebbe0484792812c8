//! Pitch shift by whole semitones, length kept: a phase-vocoder time stretch by the shift's
//! frequency ratio, then band-limited resampling back to the original length (the method of
//! torchaudio's `PitchShift`). The ratio 2^(s/12) is taken as the nearest fraction p/q with
//! q at most 512 (error below 0.01 %, a 600th of a semitone), so the resampler (rubato's FFT resampler, as in
//! `stem`) works on small blocks: no per-shift kernel tables (torchaudio's are 197 MB for
//! ±2 semitones at 16 kHz).
//!
//! It renders GuitarSet's `_pshift` tracks in the `stem` stage, and is the building block of
//! the `-ps` augmentation (not wired to the training stream yet; see the README's status).

use tch::{Device, Kind, Tensor};

use super::resample::Resampler;

/// STFT size and hop of the phase vocoder (torchaudio's defaults for 16 kHz: 512, 128).
const N_FFT: i64 = 512;
const HOP: i64 = 128;

/// The nearest fraction p/q to `x` with q <= `max_den` (continued fractions).
pub fn rational(x: f64, max_den: u64) -> (u64, u64) {
    let (mut p0, mut q0, mut p1, mut q1) = (0u64, 1u64, 1u64, 0u64);
    let mut v = x;
    loop {
        let a = v.floor() as u64;
        let (p2, q2) = (a * p1 + p0, a * q1 + q0);
        if q2 > max_den {
            break;
        }
        (p0, q0, p1, q1) = (p1, q1, p2, q2);
        let frac = v - a as f64;
        if frac < 1e-12 {
            break;
        }
        v = 1.0 / frac;
    }
    (p1, q1)
}

/// The frequency ratio of `semitones` as p/q (p/q ≈ 2^(semitones/12)).
pub fn ratio(semitones: i32) -> (u64, u64) {
    rational(2f64.powf(f64::from(semitones) / 12.0), 512)
}

fn hann(n: i64) -> Tensor {
    let v: Vec<f64> = (0..n)
        .map(|k| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos())
        .collect();
    Tensor::from_slice(&v)
}

/// Phase-vocoder time stretch of `wave` (float64, 1-D) to `out_len` samples: frames advance by
/// `rate` input frames per output frame; magnitudes interpolate between frames, phases advance
/// by each bin's measured frequency.
fn stretch(wave: &Tensor, rate: f64, out_len: i64) -> Tensor {
    let window = hann(N_FFT);
    let pad = N_FFT / 2;
    let padded = wave
        .view([1, 1, -1])
        .reflection_pad1d([pad, pad])
        .view([-1]);
    let spec = padded.stft(N_FFT, HOP, N_FFT, Some(&window), false, true, true, false); // (F, N)
    let (bins, frames) = spec.size2().expect("(F, N)");
    let spec = Tensor::cat(
        &[&spec, &Tensor::zeros([bins, 1], (spec.kind(), Device::Cpu))],
        1,
    );
    let steps = Tensor::arange_start_step(0.0, frames as f64, rate, (Kind::Double, Device::Cpu));
    let idx = steps.floor().to_kind(Kind::Int64);
    let alpha = &steps - idx.to_kind(Kind::Double);
    let s0 = spec.index_select(1, &idx);
    let s1 = spec.index_select(1, &(&idx + 1));
    let advance = Tensor::linspace(
        0.0,
        std::f64::consts::PI * HOP as f64,
        bins,
        (Kind::Double, Device::Cpu),
    )
    .unsqueeze(1);
    let two_pi = 2.0 * std::f64::consts::PI;
    let dphase = s1.angle() - s0.angle() - &advance;
    let dphase = &dphase - (&dphase / two_pi).round() * two_pi + &advance;
    let first = spec.narrow(1, 0, 1).angle();
    let m = dphase.size()[1];
    let phase = Tensor::cat(&[first, dphase.narrow(1, 0, m - 1)], 1).cumsum(1, Kind::Double);
    let mag = s1.abs() * &alpha + s0.abs() * (1.0 - &alpha);
    let out = Tensor::polar(&mag, &phase);
    out.istft(
        N_FFT,
        HOP,
        N_FFT,
        Some(&window),
        true,
        false,
        true,
        out_len,
        false,
    )
}

/// `samples` (16 kHz mono) shifted by `semitones`, the same length.
pub fn pitch_shift(samples: &[f32], semitones: i32) -> Result<Vec<f32>, String> {
    if semitones == 0 || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let (p, q) = ratio(semitones);
    // Up by p/q: stretch to p/q of the length, then resample by q/p back to it.
    let n = samples.len();
    let stretched_len = ((n as u64 * p) as f64 / q as f64).round() as i64;
    let wave = Tensor::from_slice(samples).to_kind(Kind::Double);
    let rate = q as f64 / p as f64;
    let stretched = tch::no_grad(|| stretch(&wave, rate, stretched_len));
    let stretched = Vec::<f32>::try_from(stretched.to_kind(Kind::Float))
        .map_err(|e| format!("pitch shift: {e}"))?;
    // A rate pair in the ratio q:p, scaled into the resampler's comfortable range.
    let k = (16_000 / p.max(q)).max(1);
    let mut r = Resampler::new((p * k) as u32, (q * k) as u32)?;
    let mut out = Vec::with_capacity(n + 64);
    r.push(&stretched, &mut |s| out.extend_from_slice(s));
    r.finish(&mut |s| out.extend_from_slice(s));
    out.resize(n, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dominant frequency of `x` at 16 kHz: the FFT peak, refined by parabolic
    /// interpolation of the log magnitude.
    fn dominant_hz(x: &[f32]) -> f64 {
        let t = Tensor::from_slice(x).to_kind(Kind::Double);
        let w = hann(x.len() as i64);
        let mag = (t * w).fft_rfft(None::<i64>, -1, "backward").abs();
        let v = Vec::<f64>::try_from(&mag).unwrap();
        let (k, _) = v
            .iter()
            .enumerate()
            .skip(1)
            .fold((0, 0.0), |b, (i, &m)| if m > b.1 { (i, m) } else { b });
        let (a, b, c) = (v[k - 1].ln(), v[k].ln(), v[k + 1].ln());
        let delta = 0.5 * (a - c) / (a - 2.0 * b + c);
        (k as f64 + delta) * 16_000.0 / x.len() as f64
    }

    fn tone(hz: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / 16_000.0).sin()) as f32)
            .collect()
    }

    #[test]
    fn ratios_are_close_fractions() {
        for s in -12..=12 {
            let (p, q) = ratio(s);
            let want = 2f64.powf(f64::from(s) / 12.0);
            assert!(
                q <= 512 && ((p as f64 / q as f64) / want - 1.0).abs() < 1e-4,
                "{s}: {p}/{q}"
            );
        }
        assert_eq!(rational(1.5, 100), (3, 2));
    }

    /// 440 Hz up 2 semitones is 493.9 Hz (within 0.5 %), down 2 is 392.0 Hz; the length is
    /// kept. The level of a pure tone drops by about 4.5 dB, exactly as with torchaudio's
    /// `pitch_shift` (0.354 -> 0.211 RMS for +2, measured with torchaudio 2.11): the phase
    /// vocoder's bins around the peak lose their phase coherence.
    #[test]
    fn a_tone_moves_by_whole_semitones_and_keeps_its_length() {
        let x = tone(440.0, 32_767);
        assert!((dominant_hz(&x) - 440.0).abs() < 0.5);
        for (s, want) in [(2, 493.88), (-2, 392.00), (1, 466.16), (-1, 415.30)] {
            let y = pitch_shift(&x, s).unwrap();
            assert_eq!(y.len(), x.len());
            let got = dominant_hz(&y[2048..30_000]);
            assert!(
                (got / want - 1.0).abs() < 0.005,
                "{s}: {got} Hz, want {want}"
            );
            let rms = |v: &[f32]| {
                (v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
            };
            let (a, b) = (rms(&x[4096..28_000]), rms(&y[4096..28_000]));
            assert!(b / a > 0.5 && b / a < 1.05, "{s}: level {a} -> {b}");
        }
        assert_eq!(pitch_shift(&x, 0).unwrap(), x);
    }
}
