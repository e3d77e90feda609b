"""Both VAD engines find real speech in telephone audio and ignore silence around it."""

import threading

import numpy as np
import pytest
import soxr
from pipecat.audio.vad.vad_analyzer import VADState

from voicebot.config import VADSettings
from voicebot.pipeline.vad import WebRTCVADAnalyzer, create_vad_analyzer

RATE = 16000


def telephone_speech(voice, text: str) -> bytes:
    """Speech as the pipeline sees it: 8 kHz from the phone, upsampled to 16 kHz, 1 s silence each side."""
    pcm = np.frombuffer(voice.synthesize(text), dtype=np.int16)
    up = soxr.resample(pcm, 8000, RATE).astype(np.int16)
    pad = np.zeros(RATE, dtype=np.int16)
    return np.concatenate([pad, up, pad]).tobytes()


async def states(analyzer, audio: bytes, frame_ms: int = 20) -> list[VADState]:
    analyzer.set_sample_rate(RATE)
    step = RATE * 2 * frame_ms // 1000  # 20 ms frames, as platforms send them, unless told
    return [await analyzer.analyze_audio(audio[i : i + step]) for i in range(0, len(audio), step)]


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
async def test_speech_is_detected_between_quiet_edges(engine, caller_voice):
    analyzer = create_vad_analyzer(VADSettings(engine=engine))
    assert isinstance(analyzer, WebRTCVADAnalyzer) == (engine == "webrtc")
    seen = await states(analyzer, telephone_speech(caller_voice, "I would like to talk to an agent please."))
    assert seen[:20] == [VADState.QUIET] * 20  # the leading second of silence... at least 400 ms of it
    speaking = [i for i, s in enumerate(seen) if s == VADState.SPEAKING]
    assert speaking, "no speech detected"
    assert 0.8 < (speaking[-1] - speaking[0]) * 0.02 < 4.5  # about the length of the sentence
    assert seen[-1] == VADState.QUIET


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
async def test_line_hiss_is_not_speech(engine):
    rng = np.random.default_rng(7)
    hiss = (rng.normal(0, 60, RATE * 2)).astype(np.int16).tobytes()
    seen = await states(create_vad_analyzer(VADSettings(engine=engine)), hiss)
    assert VADState.SPEAKING not in seen


def test_webrtc_refuses_rates_it_cannot_take():
    with pytest.raises(ValueError):
        WebRTCVADAnalyzer().set_sample_rate(22050)


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
async def test_a_call_s_audio_is_analysed_on_the_event_loop_not_on_a_thread_of_its_own(engine):
    analyzer = create_vad_analyzer(VADSettings(engine=engine))
    analysed_on = []
    confidence = analyzer.voice_confidence

    def recording(buffer: bytes) -> float:
        analysed_on.append(threading.get_ident())
        return confidence(buffer)

    analyzer.voice_confidence = recording  # type: ignore[method-assign]
    await states(analyzer, bytes(RATE * 2 // 5))
    assert analysed_on and set(analysed_on) == {threading.get_ident()}


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
async def test_voice_like_windows_are_counted_alike_whatever_the_frame_size(engine, caller_voice):
    # The missed-word rule counts windows: in 40 ms frames a word must count as much as in 20 ms ones.
    audio = telephone_speech(caller_voice, "Yes.")
    counts = []
    for frame_ms in (20, 40, 60):
        analyzer = create_vad_analyzer(VADSettings(engine=engine))
        await states(analyzer, audio, frame_ms)
        counts.append(analyzer.voiced_windows)
    assert counts[0] >= 3, counts  # a one-word answer is several windows of voice
    assert max(counts) - min(counts) <= 1, counts  # the same audio, cut differently
