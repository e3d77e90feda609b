"""Synthesise media/hold-music.wav: a gentle chord progression, made here so we may ship it.

Run: python scripts/make_hold_music.py  (numpy only; output 8 kHz 16-bit mono, ~24 s, loops cleanly)
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

RATE = 8000
BEAT = 0.5  # seconds
# I - vi - IV - V in C major, as arpeggios over a soft pad.
CHORDS = [(261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66)]


def tone(freq: float, secs: float, amp: float) -> np.ndarray:
    t = np.arange(int(RATE * secs)) / RATE
    envelope = np.minimum(1, t / 0.03) * np.exp(-2.2 * t)
    return amp * envelope * (np.sin(2 * np.pi * freq * t) + 0.25 * np.sin(4 * np.pi * freq * t))


def pad(chord: tuple[float, ...], secs: float) -> np.ndarray:
    t = np.arange(int(RATE * secs)) / RATE
    fade = np.minimum(1, np.minimum(t / 0.4, (secs - t) / 0.4))
    return 0.06 * fade * sum(np.sin(2 * np.pi * (f / 2) * t) for f in chord)


def main() -> None:
    bar = 8 * BEAT
    song = []
    for _ in range(3):
        for chord in CHORDS:
            notes = [chord[i] for i in (0, 1, 2, 1, 0, 1, 2, 1)]
            out = pad(chord, bar)
            for i, f in enumerate(notes):
                start = int(i * BEAT * RATE)
                note = tone(f, BEAT * 1.6, 0.18)[: len(out) - start]
                out[start : start + len(note)] += note
            song.append(out)
    audio = np.concatenate(song)
    audio = audio / np.max(np.abs(audio)) * 0.5
    path = Path(__file__).resolve().parent.parent / "media" / "hold-music.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((audio * 32767).astype(np.int16).tobytes())
    print(f"wrote {path} ({len(audio) / RATE:.1f} s)")


if __name__ == "__main__":
    main()
