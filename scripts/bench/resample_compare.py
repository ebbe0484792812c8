"""Decode + resample a 44.1 kHz stereo FLAC to 16 kHz mono: amt (symphonia + rubato, through
`amt bench audio`) against soxr (HQ) and torchaudio in Python, on the same file in the same run,
with the SNR of each against the ideal band-limited output (the signal is a known sweep).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy soundfile soxr torch torchaudio
    /tmp/venv/bin/python scripts/bench/resample_compare.py [path/to/amt]

One thread everywhere (x real time per core). The FLAC is 24-bit, so that its quantisation does
not limit the SNR.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile
import soxr
import torch
import torchaudio

SR_IN, SR_OUT, SECS = 44100, 16000, 60.0
F0, F1 = 50.0, 7000.0
torch.set_num_threads(1)


def sweep(rate):
    t = np.arange(int(round(SECS * rate))) / rate
    return 0.5 * np.sin(2 * np.pi * (F0 * t + (F1 - F0) * t * t / (2 * SECS)))


def snr(y, ideal):
    n = min(len(y), len(ideal))
    edge = SR_OUT  # one second each side
    y, ideal = np.asarray(y[:n], dtype=np.float64)[edge:-edge], ideal[:n][edge:-edge]
    return 10 * np.log10(np.sum(ideal**2) / np.sum((y - ideal) ** 2))


def best(f, n=3):
    times = []
    out = None
    for _ in range(n):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    amt = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "target", "release", "amt")
    d = tempfile.mkdtemp()
    path = os.path.join(d, "sweep.flac")
    x = sweep(SR_IN)
    soundfile.write(path, np.stack([x, x], axis=1), SR_IN, subtype="PCM_24")
    ideal = sweep(SR_OUT)
    rows = []

    out_npy = os.path.join(d, "amt.npy")
    r = subprocess.run([amt, "bench", "--json", "audio", path, "--repeat", "3", "--npy", out_npy], capture_output=True, text=True, check=True)
    rep = json.loads(r.stdout)
    rows.append(("amt (symphonia + rubato Fft)", rep["best_s"], snr(np.load(out_npy), ideal), rep["profile"]))

    def soxr_hq():
        data, _ = soundfile.read(path, dtype="float32")
        return soxr.resample(data.mean(axis=1), SR_IN, SR_OUT, quality="HQ")

    t, y = best(soxr_hq)
    rows.append(("soundfile + soxr HQ", t, snr(y, ideal), "python"))

    def ta():
        data, _ = soundfile.read(path, dtype="float32")
        w = torch.from_numpy(data.mean(axis=1))
        return torchaudio.functional.resample(w, SR_IN, SR_OUT).numpy()

    t, y = best(ta)
    rows.append(("soundfile + torchaudio.functional.resample", t, snr(y, ideal), "python"))

    print(f"{SECS:.0f} s of 44.1 kHz stereo FLAC (24-bit) -> 16 kHz mono, one thread, best of 3")
    print(f"{'':45} {'seconds':>8} {'x real time':>12} {'SNR dB':>8}")
    for name, t, s, note in rows:
        print(f"{name:45} {t:8.3f} {SECS / t:12.0f} {s:8.1f}  ({note})")


if __name__ == "__main__":
    main()
