"""Shared fixtures (the real speech models, loaded once for the whole test run) and the fuzzing profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from voicebot.config import STTSettings
from voicebot.pipeline.stt import load_whisper
from voicebot.pipeline.tts import Voice
from voicebot.scenarios.line import caller_voice as scenario_caller_voice

# Property-based tests: CI draws the same 200 inputs per property every run (a failure is a regression, not
# luck); HYPOTHESIS_PROFILE=full draws 2,000 fresh ones (docs/reliability.md has the figures).
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
settings.register_profile("ci", max_examples=200, derandomize=True, deadline=None, suppress_health_check=_QUIET)
settings.register_profile("full", max_examples=2_000, deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def whisper():
    return load_whisper(STTSettings())


@pytest.fixture(scope="session")
def caller_voice() -> Voice:
    """The caller: the bundled Piper voice, slower and with more variation than the bot's."""
    return scenario_caller_voice()


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis on a loopback port (throwaway directory), shared by the tests that need one."""
    from tests.redis_server import RedisServer

    server = RedisServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL on a loopback port (throwaway data directory); each test takes a fresh database of it."""
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    yield server
    server.close()
