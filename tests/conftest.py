"""Shared fixtures: the real speech models, loaded once for the whole test run."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.config import STTSettings
from voicebot.pipeline.stt import load_whisper
from voicebot.pipeline.tts import Voice, default_voice_path


@pytest.fixture(scope="session")
def whisper():
    return load_whisper(STTSettings())


@pytest.fixture(scope="session")
def caller_voice() -> Voice:
    """The caller: the bundled Piper voice, slower and with more variation than the bot's."""
    return Voice(default_voice_path(), length_scale=1.2, noise_scale=0.8, sample_rate=8000)


def transcribe_8k(whisper, pcm16: bytes) -> str:
    """What Whisper hears in 8 kHz telephone audio (upsampled as the pipeline does).

    Leading and trailing line silence is trimmed and 0.3 s of quiet put back on
    each side, as a listener hears a prompt: Whisper drops the last word of audio
    that ends abruptly and wanders on long silences.
    """
    import soxr

    samples = np.frombuffer(bytes(pcm16), dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples) > 300)
    if loud.size:
        samples = samples[max(loud[0] - 800, 0) : loud[-1] + 800]
    pad = np.zeros(2400, dtype=np.int16)
    audio = np.concatenate([pad, samples, pad]).astype(np.float32) / 32768.0
    audio = soxr.resample(audio, 8000, 16000)
    segments, _ = whisper.transcribe(audio, language="en", beam_size=1, condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments).strip()
