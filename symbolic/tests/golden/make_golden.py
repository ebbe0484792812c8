#!/usr/bin/env python3
"""Independent golden values for the amt-symbolic fixture tests.

Written from the rules in shared/spec/yourmt3.md (section 1.2 midi2note, 1.3 Slakh / MAESTRO /
GuitarSet), on top of `mido` (MIDI) and `PyYAML` (Slakh metadata); it shares no code with the
Rust crate. The one intended deviation from YourMT3 is reproduced here too: on a note-off while
the sustain pedal is down, EVERY active note of that pitch on that channel moves to the sustained
list (YourMT3 removes from the list it iterates and skips every second one). The buggy count is
written beside it (`*_buggy`) to show the difference.

Regenerate (from this folder):
    pip install mido pyyaml
    python3 make_golden.py ../../../../shared/fixtures > golden.json
(the argument is the fixtures folder; default: $AMT_SHARED/fixtures or ../../../../shared/fixtures)
"""
import json
import os
import sys

import mido
import yaml

MIN_OFF = 0.01
DRUM_OFF = 0.01


class N:
    __slots__ = ("is_drum", "program", "onset", "offset", "pitch", "velocity")

    def __init__(self, is_drum, program, onset, offset, pitch, velocity):
        self.is_drum, self.program, self.onset = is_drum, program, onset
        self.offset, self.pitch, self.velocity = offset, pitch, velocity

    def key(self):
        return (self.onset, self.is_drum, self.program, self.velocity, self.pitch)

    def as_list(self):
        return [self.is_drum, self.program, self.onset, self.offset, self.pitch, self.velocity]


def trim(notes):
    by = {}
    for n in notes:
        by.setdefault((n.pitch, n.program, n.is_drum), []).append(n)
    out = []
    for ch in by.values():
        ch = sorted(ch, key=lambda n: n.onset)
        for i in range(1, len(ch)):
            if ch[i - 1].offset > ch[i].onset:
                ch[i - 1].offset = ch[i].onset
        out.extend(n for n in ch if n.onset < n.offset)
    out.sort(key=N.key)
    return out


def validate(notes):
    for n in notes:
        if n.offset is None:
            n.offset = n.onset + MIN_OFF
        elif n.onset > n.offset:
            n.offset = max(n.offset, n.onset + MIN_OFF)
        elif (not n.is_drum) and n.offset - n.onset < 0.01:
            n.offset = n.onset + MIN_OFF
    return notes


def midi2note(path, force_all_drum=False, force_all_program_to=None, ignore_pedal=False,
              buggy=False):
    midi = mido.MidiFile(path)
    prog = [None] * 16
    sus = [False] * 16
    active = [[] for _ in range(16)]
    sustained = [[] for _ in range(16)]
    done = []
    now = 0.0
    for msg in midi:
        now += msg.time
        if msg.type == "program_change":
            prog[msg.channel] = msg.program
        elif msg.type == "control_change" and msg.control == 64 and not ignore_pedal:
            if msg.value >= 64:
                sus[msg.channel] = True
            else:
                sus[msg.channel] = False
                for n in sustained[msg.channel]:
                    n.offset = now
                    done.append(n)
                sustained[msg.channel] = []
        elif msg.type == "note_on" and msg.velocity > 0:
            ch = msg.channel
            if prog[ch] is None:
                if force_all_program_to is None:
                    raise ValueError("missing program")
                prog[ch] = force_all_program_to
            if prog[ch] == 128 or force_all_drum:
                done.append(N(True, prog[ch], now, now + DRUM_OFF, msg.note, msg.velocity))
            else:
                active[ch].append(N(False, prog[ch], now, None, msg.note, msg.velocity))
        elif msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0):
            ch = msg.channel
            lst = active[ch]
            if sus[ch]:
                if buggy:  # YourMT3: removing while iterating skips the next list element
                    for n in lst:
                        if n.pitch == msg.note:
                            sustained[ch].append(n)
                            lst.remove(n)
                else:
                    hit = [n for n in lst if n.pitch == msg.note]
                    sustained[ch].extend(hit)
                    active[ch] = [n for n in lst if n.pitch != msg.note]
            else:
                for i, n in enumerate(lst):
                    if n.pitch == msg.note:
                        n.offset = now
                        done.append(n)
                        del lst[i]
                        break
    for group in (active, sustained):
        for ch_notes in group:
            for n in ch_notes:
                n.offset = min(now, n.onset + MIN_OFF)
                done.append(n)
    for n in done:
        n.velocity = 1 if n.velocity > 0 else 0
    done.sort(key=N.key)
    for n in done:
        n.onset = round(n.onset * 100) / 100.0
        n.offset = round(n.offset * 100) / 100.0
    return validate(trim(done)), midi.length


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def digest(notes):
    """FNV-1a 64 of one line per note: onset and offset in 10 ms ticks, pitch, program, drum."""
    text = "".join(f"{round(n.onset * 100)},{round(n.offset * 100)},{n.pitch},{n.program},{int(n.is_drum)}\n"
                   for n in notes)
    return f"{fnv1a64(text):016x}"


def summary(notes, length, sample_idx):
    return {
        "digest": digest(notes),
        "n_notes": len(notes),
        "midi_length": length,
        "pitch_min": min((n.pitch for n in notes), default=None),
        "pitch_max": max((n.pitch for n in notes), default=None),
        "sum_duration": sum(n.offset - n.onset for n in notes),
        "first_onset": notes[0].onset if notes else None,
        "last_offset": max((n.offset for n in notes), default=None),
        "samples": {str(i): notes[i].as_list() for i in sample_idx if i < len(notes)},
    }


def slakh(fx):
    track = os.path.join(fx, "slakh/slakh2100_flac_redux/train/Track00001")
    meta = yaml.safe_load(open(os.path.join(track, "metadata.yaml")))
    out = {}
    mixed = []
    for sid, st in sorted(meta["stems"].items()):
        midi = os.path.join(track, "MIDI", sid + ".mid")
        usable = bool(st["audio_rendered"]) and bool(st["midi_saved"]) and os.path.exists(midi)
        entry = {"program_num": st["program_num"], "is_drum": bool(st["is_drum"]),
                 "plugin_name": st["plugin_name"], "inst_class": st["inst_class"],
                 "usable": usable}
        if usable:
            notes, length = midi2note(midi, force_all_drum=bool(st["is_drum"]))
            raw_min = min((n.pitch for n in notes), default=None)
            fix = 32 <= st["program_num"] <= 39 and st["plugin_name"] != "scarbee_jay_bass_slap_both.nkm"
            if fix:
                for n in notes:
                    n.pitch -= 12
            for n in notes:  # Slakh rule: drum stems carry program 128
                if n.is_drum:
                    n.program = 128
            entry.update(summary(notes, length, [0, 1, 2, len(notes) - 1]))
            entry["bass_octave_fixed"] = fix
            entry["raw_pitch_min"] = raw_min
            buggy, _ = midi2note(midi, force_all_drum=bool(st["is_drum"]), buggy=True)
            entry["n_notes_buggy"] = len(buggy)
            mixed.extend(notes)
        out[sid] = entry
    # mix_notes: sort (offset as last key), trim, validate
    mixed.sort(key=lambda n: N.key(n) + (n.offset,))
    mix = validate(trim(mixed))
    out["mix_n_notes"] = len(mix)
    out["mix_digest"] = digest(mix)
    return out


def maestro(fx):
    path = os.path.join(fx, "maestro/2018/MIDI-Unprocessed_Chamber3_MID--AUDIO_10_R3_2018_wav--1.midi")
    ped, length = midi2note(path, force_all_program_to=0)
    nop, _ = midi2note(path, force_all_program_to=0, ignore_pedal=True)
    bug, _ = midi2note(path, force_all_program_to=0, buggy=True)
    idx = [0, 1, 2, 100, 1000, 2000, 3000, 4000, len(ped) - 1]
    return {"pedal": summary(ped, length, idx), "no_pedal": summary(nop, length, idx),
            "n_notes_buggy": len(bug)}


def guitarset(fx):
    path = os.path.join(fx, "guitarset/annotation/03_BN3-119-G_solo.jams")
    jam = json.load(open(path))
    notes = []
    per_ann = []
    for ann in jam["annotations"]:
        if ann["namespace"] != "note_midi":
            continue
        data = ann["data"]
        if isinstance(data, dict):  # dense (column) form
            data = [dict(time=t, duration=d, value=v, confidence=c) for t, d, v, c in
                    zip(data["time"], data["duration"], data["value"], data["confidence"])]
        per_ann.append(len(data))
        for o in data:
            if isinstance(o["value"], float) and o["confidence"] is None:
                notes.append(N(False, 24, o["time"], o["time"] + o["duration"], round(o["value"]), 1))
    notes.sort(key=lambda n: (n.onset, n.is_drum, n.program, n.velocity, n.pitch, n.offset))
    notes = trim(validate(notes))
    return {"n_notes": len(notes), "per_annotation": per_ann,
            "duration": jam["file_metadata"]["duration"],
            "notes": [n.as_list() for n in notes]}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(os.environ["AMT_SHARED"], "fixtures") if "AMT_SHARED" in os.environ \
        else os.path.join(here, "../../../../shared/fixtures")
    fx = sys.argv[1] if len(sys.argv) > 1 else default
    t7 = os.path.join(fx, "slakh/babyslakh_16k/Track00007/MIDI/S00.mid")
    t7_notes, t7_len = midi2note(t7)
    out = {"generator": "tests/golden/make_golden.py (mido, PyYAML)",
           "slakh_track00001": slakh(fx), "maestro": maestro(fx), "guitarset": guitarset(fx),
           "track00007_s00_default": summary(t7_notes, t7_len, [0, 10, len(t7_notes) - 1])}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
