"""``voicebot call`` as a user runs it: a WAV file for a voice, both sides printed and recorded."""

from __future__ import annotations

import subprocess
import sys
import wave

import numpy as np
import pytest
import soxr

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


def voicebot_call(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "voicebot", "call", *args], capture_output=True, text=True, timeout=timeout
    )


def write_wav(path, pcm8k: bytes, rate: int) -> None:
    """The caller's words at ``rate``, as a user's own recording might be."""
    audio = soxr.resample(np.frombuffer(pcm8k, dtype=np.int16), 8000, rate).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(audio.tobytes())


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) if samples.size else 0.0


def test_a_call_from_a_file_shows_both_sides_the_outcome_and_the_pop(server, caller_voice, tmp_path):
    speech = tmp_path / "agent.wav"
    write_wav(speech, caller_voice.synthesize("I would like to talk to a person, please."), 22050)
    recording = tmp_path / "call.wav"
    base = server["ws"].removesuffix("/twilio/media")

    result = voicebot_call("--url", base, "--ani", JANE, "--play", str(speech), "--record", str(recording))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot: Hi Jane" in out and "you: " in out
    assert "outcome: transferred to queue support (caller requested agent)" in out
    assert "screen pop " in out and "Jane Doe, CAS-01234; open_case http" in out
    assert JANE not in out  # the caller number is masked

    with wave.open(str(recording)) as w:
        assert (w.getnchannels(), w.getframerate()) == (2, 8000)
        stereo = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).reshape(-1, 2)
    caller, bot = stereo[:, 0], stereo[:, 1]
    first_second = slice(0, 8000)
    assert rms(bot[first_second]) > 300, "the greeting plays on the right"
    assert rms(caller[first_second]) < 50, "the caller is quiet while greeted"
    assert rms(caller) > 100, "the caller's words are on the left"


def test_an_unreachable_server_is_a_clear_error(tmp_path, caller_voice):
    speech = tmp_path / "hello.wav"
    write_wav(speech, caller_voice.synthesize("hello"), 8000)
    result = voicebot_call("--url", "ws://127.0.0.1:9", "--play", str(speech), timeout=30)
    assert result.returncode == 2 and "cannot reach voicebot at ws://127.0.0.1:9" in result.stderr


def test_without_an_audio_device_it_says_how_to_get_one(server):
    base = server["ws"].removesuffix("/twilio/media")
    result = voicebot_call("--url", base, timeout=30)
    if result.returncode == 0:
        pytest.skip("this machine has a working microphone")
    assert result.returncode == 2 and "audio device" in result.stderr and "--play" in result.stderr


def test_a_missing_or_broken_wav_is_named(tmp_path):
    assert "no such file" in voicebot_call("--play", str(tmp_path / "nope.wav"), timeout=30).stderr
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really")
    result = voicebot_call("--url", "ws://127.0.0.1:9", "--play", str(broken), timeout=30)
    assert result.returncode == 2 and "broken.wav" in result.stderr
