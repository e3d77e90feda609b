"""Shared fixtures: the real speech models, loaded once for the whole test run."""

from __future__ import annotations

import pytest

from voicebot.config import STTSettings
from voicebot.pipeline.stt import load_whisper
from voicebot.pipeline.tts import Voice
from voicebot.scenarios.line import caller_voice as scenario_caller_voice


@pytest.fixture(scope="session")
def whisper():
    return load_whisper(STTSettings())


@pytest.fixture(scope="session")
def caller_voice() -> Voice:
    """The caller: the bundled Piper voice, slower and with more variation than the bot's."""
    return scenario_caller_voice()
