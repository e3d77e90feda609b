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
    """What Whisper hears in 8 kHz telephone audio (upsampled as the pipeline does)."""
    import soxr

    audio = np.frombuffer(bytes(pcm16), dtype=np.int16).astype(np.float32) / 32768.0
    audio = soxr.resample(audio, 8000, 16000)
    segments, _ = whisper.transcribe(audio, language="en", beam_size=1, condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments).strip()
