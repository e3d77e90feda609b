"""How often an end-of-turn rule cuts a caller off, and how long it makes the caller wait.

Replays spoken sentences through the real VAD (Silero) and the real decoder and
applies the turn rule of :mod:`voicebot.pipeline.turns` to the pauses found, on
the audio's own clock instead of in real time:

- the turn ends at the VAD's stop, or, when :func:`sounds_finished` says the
  transcript trails off, once the silence since the last voice-like frame
  reaches the unfinished wait;
- a pause inside the sentence that ends the turn is a premature end (the
  caller is cut off); at the sentence's end, the wait past the last loud sample
  (the caller's view of "I stopped talking") is the floor of the reply latency.

The same rule without the text (a plain VAD stop) is measured on the same audio for comparison.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import numpy as np
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voicebot.pipeline.stt import Decoder
from voicebot.pipeline.turns import TRAILING_SILENCE_SECS, sounds_finished

RATE = 16000
CHUNK = 512  # Silero's window at 16 kHz
CHUNK_SECS = CHUNK / RATE
LOUD = 300 / 32768  # the simulated caller's "last loud sample" threshold


@dataclass
class Pause:
    """A silence of at least ``turn.look_secs`` inside or after a sentence, and what the decoder made of it."""

    silence_from: float  # last voice-like frame before the pause (secs into the audio)
    voice_again: float | None  # next voice-like frame, None at the sentence's end
    text: str


@dataclass
class Sentence:
    text: str
    speech_end: float  # last loud sample
    pauses: list[Pause] = field(default_factory=list)
    stops: dict[float, list[float]] = field(default_factory=dict)  # VAD stop time -> its stops (secs)


class _Recording(SileroVADAnalyzer):
    """Silero, keeping every window's confidence."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.confidences: list[float] = []

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = float(np.ravel(super().voice_confidence(buffer))[0])
        self.confidences.append(confidence)
        return confidence


async def _stops(samples: np.ndarray, params: VADParams) -> tuple[list[float], list[float]]:
    """The VAD's stop events (secs) and each window's confidence."""
    analyzer = _Recording(sample_rate=RATE, params=params)
    analyzer.set_sample_rate(RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    state, stops = VADState.QUIET, []
    for n in range(len(pcm) // CHUNK):
        new = await analyzer.analyze_audio(pcm[n * CHUNK : (n + 1) * CHUNK].tobytes())
        if new == VADState.QUIET and state in (VADState.SPEAKING, VADState.STOPPING):
            stops.append((n + 1) * CHUNK_SECS)
        if new in (VADState.QUIET, VADState.SPEAKING):
            state = new
    await analyzer.cleanup()
    return stops, analyzer.confidences


def analyse(
    text: str, samples: np.ndarray, decoder: Decoder, vad: VADParams, look_secs: float, stop_times: list[float]
) -> Sentence:
    """The pauses the turn rule looks at, with their transcripts, and the VAD's stops for each stop time."""
    loud = np.flatnonzero(np.abs(samples) > LOUD)
    sentence = Sentence(text, speech_end=(loud[-1] + 1) / RATE if loud.size else 0.0)
    confidences: list[float] = []
    for stop_secs in stop_times:
        params = VADParams(
            confidence=vad.confidence, start_secs=vad.start_secs, stop_secs=stop_secs, min_volume=vad.min_volume
        )
        sentence.stops[stop_secs], confidences = asyncio.run(_stops(samples, params))
    voiced = [(n + 1) * CHUNK_SECS for n, c in enumerate(confidences) if c >= vad.confidence]
    for last, following in itertools.pairwise([*voiced, None]):
        if following is not None and following - last < look_secs:
            continue
        look_at = last + look_secs
        audio = np.concatenate(
            [samples[: int(look_at * RATE)], np.zeros(int(TRAILING_SILENCE_SECS * RATE), np.float32)]
        )
        heard = " ".join(t for t, _ in decoder.transcribe(audio)).strip()
        sentence.pauses.append(Pause(last, following, heard))
    return sentence


@dataclass
class Outcome:
    cut_off: bool
    wait_secs: float | None  # end of speech -> end of turn; None when the caller was cut off


def turn_rule(sentence: Sentence, stop_secs: float, unfinished_secs: float | None = None) -> Outcome:
    """The rule of :class:`~voicebot.pipeline.turns.TurnTranscriber` on one sentence.

    The turn ends at the VAD's stop, unless the transcript trails off and
    ``unfinished_secs`` is given: then it waits that long after the last voice.
    Without ``unfinished_secs`` this is the plain VAD stop voicebot used before.
    """
    for stop in sentence.stops[stop_secs]:
        pause = next((p for p in reversed(sentence.pauses) if p.silence_from <= stop), None)
        if pause is None:
            continue
        ends_at = stop
        if unfinished_secs is not None and not sounds_finished(pause.text):
            ends_at = max(stop, pause.silence_from + unfinished_secs)
            if pause.voice_again is not None and pause.voice_again < ends_at:
                continue  # held open, and the caller went on
        if pause.voice_again is not None or ends_at < sentence.speech_end:
            return Outcome(True, None)
        return Outcome(False, ends_at - sentence.speech_end)
    return Outcome(False, None)
