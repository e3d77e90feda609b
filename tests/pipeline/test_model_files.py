"""A model or voice file missing or broken at start: ``voicebot serve`` names the key and the file, and exits 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.pipeline.stt import default_model_path
from voicebot.pipeline.tts import default_voice_path


def serve(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    """``voicebot serve`` as an operator starts it; it must give up before it listens."""
    import os

    return subprocess.run(
        [sys.executable, "-m", "voicebot", "serve", "--port", "0", "--data-dir", str(tmp_path / "data"), *extra],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def broken_voice(tmp_path) -> Path:
    voice = tmp_path / "voice.onnx"
    voice.write_bytes(b"this is not an onnx model")
    shutil.copy(f"{default_voice_path()}.json", f"{voice}.json")
    return voice


@pytest.fixture
def broken_whisper(tmp_path) -> Path:
    model = tmp_path / "whisper"
    shutil.copytree(default_model_path(), model)
    (model / "model.bin").write_bytes(b"\0" * 1024)
    return model


def test_a_corrupt_voice_is_named_with_its_key(tmp_path, broken_voice):
    result = serve(tmp_path, {"VOICEBOT_TTS__VOICE": str(broken_voice)})
    assert result.returncode == 2
    assert "tts.voice: cannot load it" in result.stderr and str(broken_voice) in result.stderr


def test_a_voice_without_its_json_is_named(tmp_path, broken_voice):
    Path(f"{broken_voice}.json").unlink()
    result = serve(tmp_path, {"VOICEBOT_TTS__VOICE": str(broken_voice)})
    assert result.returncode == 2
    assert "tts.voice: Piper voice file not found" in result.stderr and f"{broken_voice}.json" in result.stderr


def test_a_corrupt_whisper_model_is_named_with_its_key(tmp_path, broken_whisper):
    result = serve(tmp_path, {"VOICEBOT_STT__MODEL": str(broken_whisper)})
    assert result.returncode == 2
    assert "stt.model: cannot load it" in result.stderr and str(broken_whisper) in result.stderr


def test_a_missing_whisper_model_is_named(tmp_path):
    result = serve(tmp_path, {"VOICEBOT_STT__MODEL": str(tmp_path / "nowhere")})
    assert result.returncode == 2 and "stt.model: no CTranslate2 Whisper model" in result.stderr


def test_with_workers_the_models_are_checked_before_any_worker_starts(tmp_path, broken_voice):
    result = serve(tmp_path, {"VOICEBOT_TTS__VOICE": str(broken_voice)}, "--workers", "2")
    assert result.returncode == 2 and "tts.voice: cannot load it" in result.stderr
    assert "Started server process" not in result.stderr
