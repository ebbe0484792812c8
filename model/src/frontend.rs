//! The audio front-end: waveform (B, T) at 16 kHz -> normalised log spectrogram (B, frames,
//! bins), exactly as YourMT3's `model/spectrogram.py` (spec section 5). One implementation on
//! tch tensors: the `shards` stage runs it on the CPU, the model runs the same code on the GPU
//! for augmented audio, so both see the same numbers.
//!
//! - `melspec` (YMT3+): STFT n_fft 2048, window 2048 periodic Hann, hop 128, centred with
//!   reflect padding, power 2 (1025 bins), HTK mel filter bank of 512 triangles over 50-8000 Hz
//!   (torchaudio `melscale_fbanks`, `norm=None`); 256 frames per 32767-sample segment.
//! - `spec` (YPTF): the same STFT with hop 300, magnitude (power 1), the DC bin dropped: 1024
//!   bins; 110 frames per segment.
//! - then `log(x + 1e-5)` and a min-max normalisation per example over (frames, bins):
//!   `(x - min) / (max - min + 0.008)`, NaN to 0.
//!
//! `spec` computes its STFT in float64, the rest in float32. Why: in digital silence (zero
//! padding, silent stems) the exact magnitude is 0, and a float32 FFT leaves residues near 1e-7
//! that `log(x + 1e-5)` turns into errors of about 2e-3 after normalisation (measured against
//! numpy in float64). A float64 FFT leaves 1e-17, which float32 keeps; after it, float32 is
//! exact enough (within 2e-7 of an independent float64 computation). `melspec` squares the
//! magnitude, so the same residues become 1e-14, far under the 1e-5 floor: it runs in float32
//! throughout (within 1.2e-5 of the float64 computation). Both take the power as re^2 + im^2
//! rather than complex `abs`, which costs twice the FFT.

use tch::{Device, Kind, Tensor};

pub const SAMPLE_RATE: f64 = 16000.0;
pub const N_FFT: i64 = 2048;
pub const N_MELS: i64 = 512;
pub const F_MIN: f64 = 50.0;
pub const F_MAX: f64 = 8000.0;
/// Added before the log.
pub const LOG_EPS: f64 = 1e-5;
/// YourMT3's epsilon in the min-max normalisation.
pub const MINMAX_EPS: f64 = 0.008;

/// Which spectrogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// Log-mel (YMT3+): default hop 128.
    Melspec,
    /// Log-magnitude (Perceiver-TF): default hop 300.
    Spec,
}

impl Codec {
    pub fn parse(s: &str) -> Option<Codec> {
        match s {
            "melspec" => Some(Codec::Melspec),
            "spec" => Some(Codec::Spec),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Melspec => "melspec",
            Codec::Spec => "spec",
        }
    }

    /// YourMT3's hop for the codec (128 melspec, 300 spec).
    pub fn default_hop(self) -> i64 {
        match self {
            Codec::Melspec => 128,
            Codec::Spec => 300,
        }
    }

    /// Bins per frame: 512 mel bands, or 1024 linear bins (DC dropped).
    pub fn bins(self) -> i64 {
        match self {
            Codec::Melspec => N_MELS,
            Codec::Spec => N_FFT / 2,
        }
    }
}

/// The front-end of one codec and hop, with its window and filter bank on a device.
pub struct FrontEnd {
    pub codec: Codec,
    pub hop: i64,
    /// Mel bands (melspec; YourMT3's `-nmel`, 512 by default).
    pub n_mels: i64,
    window: Tensor,
    /// (1025, 512) for melspec.
    mel: Option<Tensor>,
}

impl FrontEnd {
    pub fn new(codec: Codec, hop: i64, device: Device) -> FrontEnd {
        FrontEnd::with_mels(codec, hop, N_MELS, device)
    }

    /// A melspec front-end with `n_mels` bands (the demo's small model reads 128).
    pub fn with_mels(codec: Codec, hop: i64, n_mels: i64, device: Device) -> FrontEnd {
        let window = hann_periodic(N_FFT).to_device(device);
        let mel = (codec == Codec::Melspec).then(|| {
            mel_filter_bank(N_FFT / 2 + 1, F_MIN, F_MAX, n_mels, SAMPLE_RATE).to_device(device)
        });
        FrontEnd {
            codec,
            hop,
            n_mels,
            window,
            mel,
        }
    }

    /// Frames for `samples` samples (centred STFT): `1 + samples / hop`.
    pub fn frames(&self, samples: i64) -> i64 {
        1 + samples / self.hop
    }

    pub fn bins(&self) -> i64 {
        match self.codec {
            Codec::Melspec => self.n_mels,
            Codec::Spec => self.codec.bins(),
        }
    }

    /// (B, T) float waveform -> (B, frames, bins) float, normalised to [0, 1] per example.
    pub fn forward(&self, wave: &Tensor) -> Tensor {
        let kind = match self.codec {
            Codec::Melspec => Kind::Float,
            Codec::Spec => Kind::Double,
        };
        let wave = wave.to_kind(kind);
        let power = self.power(&wave);
        let x = (power + LOG_EPS).log();
        let dims: &[i64] = &[1, 2];
        let min = x.amin(dims, true);
        let max = x.amax(dims, true);
        let y = (x - &min) / (max - min + MINMAX_EPS);
        y.nan_to_num(0.0, None::<f64>, None::<f64>)
    }

    /// The spectrogram before the log: (B, frames, bins).
    fn power(&self, wave: &Tensor) -> Tensor {
        let pad = N_FFT / 2;
        let padded = wave
            .unsqueeze(1)
            .reflection_pad1d([pad, pad])
            .squeeze_dim(1);
        let stft = padded.stft(
            N_FFT,
            self.hop,
            N_FFT,
            Some(&self.window.to_kind(wave.kind())),
            false,
            true,
            true,
            false,
        );
        // (B, 1025, frames), complex. The power is re^2 + im^2: complex `abs` (a hypot per
        // bin) costs twice the FFT itself.
        let ri = stft.view_as_real();
        let power = (ri.select(-1, 0).square() + ri.select(-1, 1).square()).to_kind(Kind::Float);
        match &self.mel {
            // Power 2 through the mel bank: (B, frames, 1025) @ (1025, 512).
            Some(fb) => power.transpose(1, 2).matmul(fb),
            // The magnitude, DC dropped (the sum of squares was taken in float64).
            None => power.narrow(1, 1, N_FFT / 2).sqrt().transpose(1, 2),
        }
    }
}

/// `torch.hann_window(n, periodic=True)`: 0.5 - 0.5 cos(2 pi k / n), float64.
pub fn hann_periodic(n: i64) -> Tensor {
    let w: Vec<f64> = (0..n)
        .map(|k| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / n as f64).cos())
        .collect();
    Tensor::from_slice(&w)
}

fn hz_to_mel(f: f64) -> f64 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f64) -> f64 {
    700.0 * (10f64.powf(m / 2595.0) - 1.0)
}

/// torchaudio's `melscale_fbanks(n_freqs, f_min, f_max, n_mels, sr, norm=None,
/// mel_scale="htk")`: triangles with corners equally spaced on the HTK mel scale, evaluated at
/// the STFT bin frequencies `linspace(0, sr/2, n_freqs)`. Shape (n_freqs, n_mels).
pub fn mel_filter_bank(n_freqs: i64, f_min: f64, f_max: f64, n_mels: i64, sr: f64) -> Tensor {
    let all: Vec<f64> = (0..n_freqs)
        .map(|i| sr / 2.0 * i as f64 / (n_freqs - 1) as f64)
        .collect();
    let (m_min, m_max) = (hz_to_mel(f_min), hz_to_mel(f_max));
    let pts: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(m_min + (m_max - m_min) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut fb = vec![0f32; (n_freqs * n_mels) as usize];
    for (i, &f) in all.iter().enumerate() {
        for m in 0..n_mels as usize {
            let down = (f - pts[m]) / (pts[m + 1] - pts[m]);
            let up = (pts[m + 2] - f) / (pts[m + 2] - pts[m + 1]);
            fb[i * n_mels as usize + m] = down.min(up).max(0.0) as f32;
        }
    }
    Tensor::from_slice(&fb).view([n_freqs, n_mels])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_of_both_codecs_for_a_segment() {
        let wave = Tensor::randn([3, 32767], (Kind::Float, Device::Cpu)) * 0.1;
        let mel = FrontEnd::new(Codec::Melspec, 128, Device::Cpu);
        assert_eq!(mel.forward(&wave).size(), vec![3, 256, 512]);
        assert_eq!(mel.frames(32767), 256);
        let spec = FrontEnd::new(Codec::Spec, 300, Device::Cpu);
        assert_eq!(spec.forward(&wave).size(), vec![3, 110, 1024]);
        assert_eq!(spec.frames(32767), 110);
        let y = spec.forward(&wave);
        assert!(y.min().double_value(&[]) >= 0.0 && y.max().double_value(&[]) <= 1.0);
    }

    #[test]
    fn silence_gives_exact_zeros() {
        let zeros = Tensor::zeros([2, 32767], (Kind::Float, Device::Cpu));
        for codec in [Codec::Melspec, Codec::Spec] {
            let fe = FrontEnd::new(codec, codec.default_hop(), Device::Cpu);
            let y = fe.forward(&zeros);
            assert_eq!(y.abs().max().double_value(&[]), 0.0, "{codec:?}");
        }
    }

    #[test]
    fn every_mel_filter_has_weight() {
        let fb = mel_filter_bank(1025, F_MIN, F_MAX, N_MELS, SAMPLE_RATE);
        let sums = fb.sum_dim_intlist([0i64].as_slice(), false, Kind::Float);
        // torchaudio 2.11: no empty filter, the smallest sums to 0.043 (spec section 5).
        let smallest = sums.min().double_value(&[]);
        assert!((smallest - 0.043).abs() < 0.002, "{smallest}");
    }
}
