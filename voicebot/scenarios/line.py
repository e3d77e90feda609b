"""The caller's side of the line: a voice that is not the bot's, telephone band-limiting, and hiss.

Scenario speech is synthesised with the bundled Piper voice slowed down and with
more variation than the bot's, so the recogniser hears a different delivery from
the prompts it was checked on. A narrowband call carries 300-3400 Hz; line
noise runs through the whole call, quiet stretches included, as it does on a
real line.
"""

from __future__ import annotations

import re
from typing import Protocol

import numpy as np

from voicebot.caller import FRAME_BYTES, RATE
from voicebot.pipeline.tts import Voice, default_voice_path
from voicebot.scenarios.model import Line

BAND_HZ = (300.0, 3400.0)
PAUSE = re.compile(r"\s*\[pause (\d+(?:\.\d+)?)\]\s*")
LOUD = 300  # a sample this loud is the caller's voice, not the synthesiser's own quiet


class Speaker(Protocol):
    def synthesize(self, text: str) -> bytes:
        """16-bit PCM at 8 kHz."""
        ...


def speak(voice: Speaker, text: str) -> bytes:
    """``text`` in ``voice``; a ``[pause 0.7]`` in it is that many seconds between the sounds on either side."""
    parts = PAUSE.split(text)
    if len(parts) == 1:
        return voice.synthesize(text)
    pieces: list[np.ndarray] = []
    for n, part in enumerate(parts):
        if n % 2:
            pieces.append(np.zeros(int(float(part) * RATE), np.int16))
            continue
        pcm = np.frombuffer(voice.synthesize(part), np.int16)
        loud = np.flatnonzero(np.abs(pcm) > LOUD)
        if loud.size:  # keep the synthesiser's lead-in before the first words and its tail after the last
            pcm = pcm[0 if n == 0 else loud[0] : None if n == len(parts) - 1 else loud[-1] + 1]
        pieces.append(pcm)
    return np.concatenate(pieces).tobytes()


def caller_voice(cache_size: int = 256) -> Voice:
    """The caller: the bundled voice, slower and more varied. ``cache_size=0`` makes every take a new rendering."""
    return Voice(default_voice_path(), length_scale=1.2, noise_scale=0.8, sample_rate=RATE, cache_size=cache_size)


def band_limit(pcm16: bytes) -> bytes:
    """Keep 300-3400 Hz, the narrowband telephone channel."""
    samples = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
    if samples.size == 0:
        return pcm16
    spectrum = np.fft.rfft(samples)
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    spectrum[(freqs < BAND_HZ[0]) | (freqs > BAND_HZ[1])] = 0
    return _to_pcm(np.fft.irfft(spectrum, n=samples.size))


class LineNoise:
    """Continuous hiss at a fixed RMS level: mixed into speech, and what the line carries between words."""

    def __init__(self, dbfs: float, band_limited: bool, seed: int = 0):
        self._rms = 32768 * 10 ** (dbfs / 20)
        self._band_limited = band_limited
        self._rng = np.random.default_rng(seed)

    def samples(self, count: int) -> np.ndarray:
        noise = self._rng.normal(0.0, self._rms, count)
        if self._band_limited and count:
            noise = np.frombuffer(band_limit(_to_pcm(noise)), dtype=np.int16).astype(np.float64)
            noise *= self._rms / max(float(np.sqrt(np.mean(noise**2))), 1e-9)
        return noise

    def frame(self) -> bytes:
        return _to_pcm(self.samples(FRAME_BYTES // 2))

    def mix(self, pcm16: bytes) -> bytes:
        samples = np.frombuffer(pcm16, dtype=np.int16).astype(np.float64)
        return _to_pcm(samples + self.samples(samples.size))


def over_the_line(pcm16: bytes, line: Line, noise: LineNoise | None) -> bytes:
    """Caller audio as the bot receives it on this line."""
    if line.band_limit:
        pcm16 = band_limit(pcm16)
    return noise.mix(pcm16) if noise is not None else pcm16


def _to_pcm(samples: np.ndarray) -> bytes:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16).tobytes()
