"""Spectrogram front-end frames per second on the CPU: amt (`amt bench frontend`) against
torchaudio's transforms with the same settings, in the same run, same batch, same threads.

    /tmp/venv/bin/python scripts/bench/frontend_compare.py [path/to/amt]

melspec: n_fft 2048, periodic Hann, hop 128, centred reflect, 512 HTK mel bands 50-8000 Hz,
power 2 (then log, as YourMT3 does). spec: the same STFT with hop 300, magnitude.
"""
import subprocess
import sys
import time

import torch
import torchaudio

torch.set_num_threads(2)
B, N = 16, 32767
amt = sys.argv[1] if len(sys.argv) > 1 else "target/release/amt"
x = torch.randn(B, N) * 0.1

mel = torchaudio.transforms.MelSpectrogram(
    sample_rate=16000, n_fft=2048, hop_length=128, f_min=50.0, f_max=8000.0, n_mels=512,
    power=2.0, center=True, pad_mode="reflect", mel_scale="htk", norm=None)
spec = torchaudio.transforms.Spectrogram(n_fft=2048, hop_length=300, power=1.0, center=True,
                                         pad_mode="reflect")


def best(f, repeat=5):
    f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


with torch.no_grad():
    t_mel = best(lambda: torch.log(torch.clamp(mel(x), min=1e-5)))
    t_spec = best(lambda: torch.log(torch.clamp(spec(x)[:, 1:], min=1e-5)))
frames_mel = B * (1 + N // 128)
frames_spec = B * (1 + N // 300)
print(subprocess.run([amt, "bench", "frontend"], capture_output=True, text=True).stdout.strip())
print(f"torchaudio melspec: {frames_mel / t_mel:.0f} frames/s; spec: {frames_spec / t_spec:.0f} frames/s"
      f" ({torch.get_num_threads()} threads, best of 5)")
