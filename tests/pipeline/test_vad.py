"""Both VAD engines find real speech in telephone audio and ignore silence around it."""

import threading

import numpy as np
import pytest
import soxr
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADState

from voicebot.config import VADSettings
from voicebot.pipeline.vad import VoiceDetectors, WebRTCVADAnalyzer

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
    analyzer = VoiceDetectors(VADSettings(engine=engine)).for_call()
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
    seen = await states(VoiceDetectors(VADSettings(engine=engine)).for_call(), hiss)
    assert VADState.SPEAKING not in seen


def test_webrtc_refuses_rates_it_cannot_take():
    with pytest.raises(ValueError):
        WebRTCVADAnalyzer().set_sample_rate(22050)


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
async def test_a_call_s_audio_is_analysed_on_the_event_loop_not_on_a_thread_of_its_own(engine):
    analyzer = VoiceDetectors(VADSettings(engine=engine)).for_call()
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
        analyzer = VoiceDetectors(VADSettings(engine=engine)).for_call()
        await states(analyzer, audio, frame_ms)
        counts.append(analyzer.voiced_windows)
    assert counts[0] >= 3, counts  # a one-word answer is several windows of voice
    assert max(counts) - min(counts) <= 1, counts  # the same audio, cut differently


def score(analyzer, window: bytes) -> float:
    return float(np.ravel(analyzer.voice_confidence(window))[0])


async def test_calls_share_one_silero_model_but_each_hears_only_its_own_stream(caller_voice):
    """Interleaved, two calls' analyzers score each window as a stock analyzer on that stream alone does."""
    speech = telephone_speech(caller_voice, "I would like to talk to an agent please.")
    rng = np.random.default_rng(3)
    noise = (rng.normal(0, 300, len(speech) // 2)).astype(np.int16).tobytes()
    detectors = VoiceDetectors(VADSettings())
    one, other = detectors.for_call(), detectors.for_call()
    assert one._model.session is other._model.session
    window = 512 * 2
    expected = []
    for audio in (speech, noise):
        stock = SileroVADAnalyzer(params=detectors.params)
        stock.set_sample_rate(RATE)
        expected.append([score(stock, audio[i : i + window]) for i in range(0, len(audio), window)])
    heard: list[list[float]] = [[], []]
    for analyzer in (one, other):
        analyzer.set_sample_rate(RATE)
    for i in range(0, len(speech), window):
        heard[0].append(score(one, speech[i : i + window]))
        heard[1].append(score(other, noise[i : i + window]))
    assert np.allclose(heard, expected, atol=1e-5)
    assert max(heard[0]) > 0.9 and max(heard[1]) < 0.5


def test_a_call_s_silero_analyzer_is_set_up_as_pipecat_s_own():
    """It skips pipecat's constructor (which loads the model again): whatever state that sets, it sets too."""
    stock = SileroVADAnalyzer()
    ours = VoiceDetectors(VADSettings()).for_call()
    assert set(vars(stock)) <= set(vars(ours))
    assert set(vars(stock._model)) == set(vars(ours._model))


@pytest.mark.parametrize("engine", ["silero", "webrtc"])
async def test_each_frame_s_voice_is_read_as_that_frame_left_it_however_far_ahead_the_analyzer_is(engine, caller_voice):
    """The turn logic reads frames after the analyzer; behind it (a held-up loop), it must not see later words."""
    analyzer = VoiceDetectors(VADSettings(engine=engine)).for_call()
    analyzer.set_sample_rate(RATE)
    audio = telephone_speech(caller_voice, "I would like to talk to a person.")
    step = RATE * 2 // 50
    frames = [audio[i : i + step] for i in range(0, len(audio), step)]
    as_it_went = []
    for frame in frames:  # the analyzer runs through the whole call first ...
        await analyzer.analyze_audio(frame)
        as_it_went.append((analyzer.last_voice, analyzer.voiced_windows))
    assert [analyzer.as_of(frame) for frame in frames] == as_it_went  # ... and each frame is read as it was
    assert as_it_went[-1][1] > as_it_went[len(frames) // 2][1] > 0
