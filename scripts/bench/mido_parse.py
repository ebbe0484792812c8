"""A lower bound for YourMT3's Python time on the MAESTRO fixture: mido alone parsing the file and
walking its messages in time order (YourMT3's midi2note does this, then builds notes on top).

    pip install mido && python3 scripts/bench/mido_parse.py
"""
import pathlib
import time

import mido

path = next(pathlib.Path(__file__).resolve().parents[3].glob("shared/fixtures/maestro/2018/*.midi"))
runs = []
for _ in range(5):
    t = time.perf_counter()
    midi = mido.MidiFile(path)
    n = 0
    for msg in midi:  # merged tracks, delta times in seconds (tempo map applied)
        if msg.type == "note_on":
            n += 1
    runs.append(time.perf_counter() - t)
print(f"mido: {path.name}: {n} note_on messages, {midi.length:.1f} s")
print(f"best of 5: {min(runs) * 1000:.1f} ms")
