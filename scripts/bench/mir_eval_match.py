"""mir_eval's time for the input of metrics/benches/match.rs (same generator, same seed).

    pip install mir_eval && python3 scripts/bench/mir_eval_match.py
"""
import time

import mir_eval
import numpy as np

MASK = (1 << 64) - 1


class XorShift:
    def __init__(self, seed):
        self.s = seed

    def next_f64(self):
        s = self.s
        s ^= s >> 12
        s ^= (s << 25) & MASK
        s ^= s >> 27
        self.s = s
        return (((s * 0x2545F4914F6CDD1D) & MASK) >> 11) / float(1 << 53)


def midi_to_hz(m):
    return 440.0 * 2.0 ** ((m - 69.0) / 12.0)


rng = XorShift(0x9E3779B97F4A7C15)
ref_iv, ref_hz = [], []
for _ in range(10_000):
    onset = rng.next_f64() * 1000.0
    dur = 0.05 + rng.next_f64() * 1.0
    ref_iv.append([onset, onset + dur])
    ref_hz.append(midi_to_hz(np.floor(40.0 + rng.next_f64() * 40.0)))
est_iv, est_hz = [], []
for (on, off), h in zip(ref_iv, ref_hz):
    d_on = (rng.next_f64() - 0.5) * 0.12
    d_off = (rng.next_f64() - 0.5) * 0.2
    o = max(on + d_on, 0.0)
    est_iv.append([o, max(off + d_off, o + 0.01)])
    est_hz.append(h * 1.06 if rng.next_f64() < 0.1 else h)
ref_iv, ref_hz = np.array(ref_iv), np.array(ref_hz)
est_iv, est_hz = np.array(est_iv), np.array(est_hz)

runs = []
for _ in range(3):
    t = time.perf_counter()
    p, r, f, o = mir_eval.transcription.precision_recall_f1_overlap(ref_iv, ref_hz, est_iv, est_hz)
    runs.append(time.perf_counter() - t)
print(f"mir_eval {mir_eval.__version__}: P={p:.6f} R={r:.6f} F={f:.6f} overlap={o:.6f}")
print(f"best of 3: {min(runs) * 1000:.1f} ms")
