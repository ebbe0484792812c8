"""Golden values for the audio front-end (model/src/frontend.rs), computed independently of
torch: numpy's FFT, a periodic Hann window and the HTK mel filter bank written from their
formulas (spec section 5).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
    /tmp/venv/bin/python model/tests/golden/make_frontend.py

Writes, beside this script:
- frontend_input.npy: (2, 32767) float32 waveforms: seeded noise with a few tones, and the
  first 32767 samples of the babyslakh fixture's 16 kHz mix (zero-padded), read as int16/2^15;
- frontend_melspec.npy: (2, 256, 512) float32, hop 128;
- frontend_spec.npy: (2, 110, 1024) float32, hop 300.
"""
import os
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "..", "..", "shared", "fixtures")
SR, N_FFT, N_MELS, F_MIN, F_MAX = 16000, 2048, 512, 50.0, 8000.0
SEG = 32767


def hann_periodic(n):
    k = np.arange(n)
    return 0.5 - 0.5 * np.cos(2 * np.pi * k / n)


def stft_mag(x, hop):
    pad = N_FFT // 2
    xp = np.pad(x, (pad, pad), mode="reflect")
    frames = 1 + (len(xp) - N_FFT) // hop
    w = hann_periodic(N_FFT)
    out = np.empty((frames, N_FFT // 2 + 1))
    for t in range(frames):
        seg = xp[t * hop : t * hop + N_FFT] * w
        out[t] = np.abs(np.fft.rfft(seg))
    return out  # (frames, 1025)


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_bank():
    freqs = np.linspace(0, SR / 2, N_FFT // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), N_MELS + 2))
    fb = np.zeros((len(freqs), N_MELS))
    for m in range(N_MELS):
        down = (freqs - pts[m]) / (pts[m + 1] - pts[m])
        up = (pts[m + 2] - freqs) / (pts[m + 2] - pts[m + 1])
        fb[:, m] = np.maximum(0.0, np.minimum(down, up))
    return fb


def normalise(x):
    x = np.log(x + 1e-5)
    return (x - x.min()) / (x.max() - x.min() + 0.008)


def melspec(x):
    return normalise(stft_mag(x, 128) ** 2 @ mel_bank())


def spec(x):
    return normalise(stft_mag(x, 300)[:, 1:])


def main():
    rng = np.random.default_rng(20261130)
    t = np.arange(SEG) / SR
    noise = 0.05 * rng.standard_normal(SEG) + 0.3 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 3520 * t)
    with wave.open(os.path.join(FIXTURES, "slakh", "babyslakh_16k", "Track00001", "mix.wav")) as w:
        assert w.getframerate() == SR and w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, w.getnchannels()).mean(axis=1)
    real = np.zeros(SEG)
    real[: min(SEG, len(pcm))] = pcm[:SEG] / 32768.0
    inputs = np.stack([noise, real]).astype(np.float32)
    np.save(os.path.join(HERE, "frontend_input.npy"), inputs)
    x64 = inputs.astype(np.float64)
    np.save(os.path.join(HERE, "frontend_melspec.npy"), np.stack([melspec(x) for x in x64]).astype(np.float32))
    np.save(os.path.join(HERE, "frontend_spec.npy"), np.stack([spec(x) for x in x64]).astype(np.float32))
    print("wrote", inputs.shape)


if __name__ == "__main__":
    main()
