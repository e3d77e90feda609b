"""The caller's line: narrowband filtering and hiss at the level asked for."""

from __future__ import annotations

import numpy as np

from voicebot.scenarios.line import LineNoise, band_limit, over_the_line
from voicebot.scenarios.model import Line

RATE = 8000


def tone(hz: float, secs: float = 1.0, amplitude: float = 8000) -> bytes:
    t = np.arange(int(RATE * secs)) / RATE
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16).tobytes()


def rms(pcm: bytes) -> float:
    return float(np.sqrt(np.mean(np.frombuffer(pcm, dtype=np.int16).astype(np.float64) ** 2)))


def test_band_limiting_keeps_the_voice_band_and_removes_the_rest():
    assert abs(rms(band_limit(tone(1000))) - rms(tone(1000))) < 0.02 * rms(tone(1000))
    assert rms(band_limit(tone(150))) < 0.02 * rms(tone(150))
    assert rms(band_limit(tone(3800))) < 0.02 * rms(tone(3800))


def test_line_noise_has_the_level_asked_for_in_every_frame():
    noise = LineNoise(-40, band_limited=True)
    frames = b"".join(noise.frame() for _ in range(100))
    level_db = 20 * np.log10(rms(frames) / 32768)
    assert -41 < level_db < -39
    assert len(noise.frame()) == 320


def test_speech_over_the_line_is_mixed_with_the_hiss_and_keeps_its_length():
    speech = tone(800, 0.5)
    noisy = over_the_line(speech, Line(noise_dbfs=-30, band_limit=True), LineNoise(-30, band_limited=True))
    assert len(noisy) == len(speech)
    residual = np.frombuffer(noisy, np.int16).astype(float) - np.frombuffer(speech, np.int16).astype(float)
    assert 20 * np.log10(np.sqrt(np.mean(residual**2)) / 32768) > -33  # the hiss is there
    assert over_the_line(speech, Line(), None) == speech


def test_a_pause_written_into_the_words_is_that_much_silence_between_them(caller_voice):
    import numpy as np

    from voicebot.scenarios.line import speak

    pcm = np.frombuffer(speak(caller_voice, "Yes, [pause 0.7] I'd like an agent."), np.int16)
    quiet = np.abs(pcm) <= 300
    longest = run = 0
    for q in quiet[np.flatnonzero(~quiet)[0] : np.flatnonzero(~quiet)[-1]]:
        run = run + 1 if q else 0
        longest = max(longest, run)
    assert abs(longest / 8000 - 0.7) < 0.02
