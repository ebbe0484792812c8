//! Streaming resampling of mono audio with rubato's synchronous FFT resampler.
//!
//! Why this resampler: for the fixed ratios we need (44.1 and 48 kHz to 16 kHz, integer rational
//! ratios) rubato's `Fft` resamples exactly band-limited, with a Blackman-Harris anti-aliasing
//! filter. Measured against an ideal band-limited reference (a sine sweep computed analytically
//! at 16 kHz; see the test below and docs/PERFORMANCE.md) it gives an SNR well above 16-bit
//! quantisation, which is what our int16 storage keeps anyway, at a fraction of the cost of a
//! long-sinc asynchronous resampler. Output is trimmed of the filter delay and cut to the ideal
//! length `round(n * out_rate / in_rate)`, so it lines up with the annotations sample for
//! sample.

use audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

/// FFT sub-chunks per resampler call.
const SUB_CHUNKS: usize = 8;

/// The FFT block of the input side: an even multiple of the smallest block the ratio allows
/// (`in_rate / gcd`), at least 512. Even matters: with an odd block (441 for 44.1 kHz) rubato's
/// output is shifted by half an input sample (0.18 samples at 16 kHz, measured), which costs
/// 80 dB of SNR at 7 kHz.
fn fft_block(in_rate: u32, out_rate: u32) -> usize {
    let (mut a, mut b) = (in_rate as usize, out_rate as usize);
    while b != 0 {
        (a, b) = (b, a % b);
    }
    let min = in_rate as usize / a;
    let unit = if min.is_multiple_of(2) { min } else { 2 * min };
    unit * 512usize.div_ceil(unit)
}

/// A mono resampler fed in arbitrary pieces.
pub struct Resampler {
    inner: Option<Fft<f32>>,
    /// Input frames per resampler call.
    chunk: usize,
    /// Input waiting for a full chunk.
    pending: Vec<f32>,
    out_buf: Vec<f32>,
    /// Output frames still to drop (the filter's delay).
    delay_left: usize,
    input_total: u64,
    output_total: u64,
    ratio: f64,
}

impl Resampler {
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Resampler, String> {
        if in_rate == 0 || out_rate == 0 {
            return Err("a sample rate of 0".into());
        }
        let chunk = fft_block(in_rate, out_rate) * SUB_CHUNKS;
        let inner = if in_rate == out_rate {
            None
        } else {
            Some(
                Fft::<f32>::new_custom(
                    in_rate as usize,
                    out_rate as usize,
                    chunk,
                    SUB_CHUNKS,
                    1,
                    rubato::WindowFunction::BlackmanHarris2,
                    FixedSync::Input,
                )
                .map_err(|e| e.to_string())?,
            )
        };
        let (delay_left, out_len) = match &inner {
            Some(r) => (r.output_delay(), r.output_frames_max()),
            None => (0, 0),
        };
        Ok(Resampler {
            inner,
            chunk,
            pending: Vec::with_capacity(chunk),
            out_buf: vec![0.0; out_len],
            delay_left,
            input_total: 0,
            output_total: 0,
            ratio: f64::from(out_rate) / f64::from(in_rate),
        })
    }

    /// The ideal output length for the input seen so far.
    fn expected(&self) -> u64 {
        (self.input_total as f64 * self.ratio).round() as u64
    }

    /// Feeds input; calls `out` with resampled output as it becomes available.
    pub fn push(&mut self, input: &[f32], out: &mut dyn FnMut(&[f32])) {
        self.input_total += input.len() as u64;
        if self.inner.is_none() {
            self.output_total += input.len() as u64;
            out(input);
            return;
        }
        let mut rest = input;
        while !rest.is_empty() {
            let take = (self.chunk - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.chunk {
                self.run_chunk(None, out);
            }
        }
    }

    /// Flushes what is left, emitting exactly the ideal number of output samples in total.
    pub fn finish(&mut self, out: &mut dyn FnMut(&[f32])) {
        if self.inner.is_none() {
            return;
        }
        let partial = self.pending.len();
        if partial > 0 {
            self.run_chunk(Some(partial), out);
        }
        // Pump zeros through until the delayed tail is out.
        let mut guard = 0;
        while self.output_total < self.expected() && guard < 64 {
            self.run_chunk(Some(0), out);
            guard += 1;
        }
    }

    fn run_chunk(&mut self, partial: Option<usize>, out: &mut dyn FnMut(&[f32])) {
        let r = self.inner.as_mut().expect("only with a resampler");
        let chunk = self.chunk;
        self.pending.resize(chunk, 0.0);
        let input = InterleavedSlice::new(&self.pending[..], 1, chunk).expect("sizes match");
        let n_out_max = self.out_buf.len();
        let mut output =
            InterleavedSlice::new_mut(&mut self.out_buf[..], 1, n_out_max).expect("sizes match");
        let indexing = partial.map(|p| rubato::Indexing {
            input_offset: 0,
            output_offset: 0,
            partial_len: Some(p),
            active_channels_mask: None,
        });
        let (_, n_out) = r
            .process_into_buffer(&input, &mut output, indexing.as_ref())
            .expect("buffers are sized by the resampler");
        self.pending.clear();
        let mut produced = &self.out_buf[..n_out];
        let skip = self.delay_left.min(produced.len());
        self.delay_left -= skip;
        produced = &produced[skip..];
        // Never beyond the ideal length (the flush pads with zeros).
        let room = self.expected().saturating_sub(self.output_total) as usize;
        let emit = if partial.is_some() {
            &produced[..produced.len().min(room)]
        } else {
            produced
        };
        self.output_total += emit.len() as u64;
        if !emit.is_empty() {
            out(emit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linear sine sweep from f0 to f1 Hz over `secs`, sampled at `rate`.
    fn sweep(rate: u32, secs: f64, f0: f64, f1: f64) -> Vec<f64> {
        let n = (secs * f64::from(rate)).round() as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                let phase =
                    2.0 * std::f64::consts::PI * (f0 * t + (f1 - f0) * t * t / (2.0 * secs));
                0.5 * phase.sin()
            })
            .collect()
    }

    /// SNR in dB of `got` against `ideal`, away from the edges.
    fn snr(got: &[f32], ideal: &[f64]) -> f64 {
        let edge = 2000;
        let (mut s, mut e) = (0.0, 0.0);
        for i in edge..ideal.len() - edge {
            s += ideal[i] * ideal[i];
            let d = f64::from(got[i]) - ideal[i];
            e += d * d;
        }
        10.0 * (s / e).log10()
    }

    /// The SNR threshold: above 16-bit quantisation noise of a half-scale sine (about 92 dB),
    /// so the resampler adds less error than our int16 storage does.
    const SNR_DB: f64 = 90.0;

    #[test]
    fn sweeps_to_16k_match_the_ideal_band_limited_signal() {
        for rate in [44_100u32, 48_000, 22_050, 32_000] {
            let secs = 3.0;
            // Up to 7 kHz: inside 16 kHz's band, where the ideal output is the sweep itself.
            let input: Vec<f32> = sweep(rate, secs, 50.0, 7000.0)
                .into_iter()
                .map(|v| v as f32)
                .collect();
            let ideal = sweep(16_000, secs, 50.0, 7000.0);
            let mut r = Resampler::new(rate, 16_000).unwrap();
            let mut out = Vec::new();
            // In uneven pieces, as a decoder delivers them.
            for piece in input.chunks(1153) {
                r.push(piece, &mut |s| out.extend_from_slice(s));
            }
            r.finish(&mut |s| out.extend_from_slice(s));
            let expected = (input.len() as f64 * 16_000.0 / f64::from(rate)).round() as usize;
            assert!(
                out.len().abs_diff(expected) <= 1,
                "{rate}: {} vs {expected}",
                out.len()
            );
            let db = snr(&out, &ideal);
            assert!(db > SNR_DB, "{rate} Hz: SNR {db:.1} dB");
        }
    }

    #[test]
    fn same_rate_passes_through() {
        let mut r = Resampler::new(16_000, 16_000).unwrap();
        let mut out = Vec::new();
        r.push(&[0.5, -0.25], &mut |s| out.extend_from_slice(s));
        r.finish(&mut |s| out.extend_from_slice(s));
        assert_eq!(out, vec![0.5, -0.25]);
    }
}
