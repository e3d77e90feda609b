"""Voice activity detection: Silero (bundled with pipecat) or webrtcvad, chosen by ``vad.engine``."""

from __future__ import annotations

import copy
import time
from functools import cached_property
from importlib import resources

import webrtcvad
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from voicebot.config import VADSettings

AS_OF_KEPT = 3000  # frames' states kept for the turn logic to read (a minute of 20 ms frames)


class HearsVoice(VADAnalyzer):
    """Remembers when and how often the analyzer heard a voice-like window, and analyses on the event loop.

    The VAD confirms that speech started only after ``vad.start_secs`` of it, too
    late to keep a turn open when the caller goes on after a comma, and never
    for a word shorter than that; the :mod:`turn <voicebot.pipeline.turns>`
    logic reads :attr:`last_voice` and :attr:`voiced_windows` instead.

    pipecat runs each call's analyzer on a thread of its own, one round trip per
    20 ms of audio. At two dozen calls those threads' Python work held the GIL
    against the event loop, and the caller's audio reached the turn logic
    seconds after it arrived; a window's analysis costs about 0.4 ms, less than
    the round trip, so it runs in place (docs/benchmarks.md).
    """

    last_voice: float = 0.0  # time.monotonic() of the last window at or above the confidence threshold
    voiced_windows: int = 0  # how many windows have been, whatever the size of the frames they came in

    async def analyze_audio(self, buffer: bytes) -> VADState:
        state = self._run_analyzer(buffer)
        heard = self._as_of
        heard[id(buffer)] = (self.last_voice, self.voiced_windows)
        while len(heard) > AS_OF_KEPT:
            del heard[next(iter(heard))]
        return state

    def as_of(self, buffer: bytes) -> tuple[float, int]:
        """(:attr:`last_voice`, :attr:`voiced_windows`) just after ``buffer`` (a frame's audio) was analysed.

        The turn logic reads a frame after the analyzer has, and when it runs
        behind (the loop held up for a second) the analyzer is frames ahead:
        its latest state would date the caller's words wrongly, and the turn's
        audio would end where the holdup began. The current state for a
        buffer it did not see.
        """
        return self._as_of.pop(id(buffer), (self.last_voice, self.voiced_windows))

    @cached_property
    def _as_of(self) -> dict[int, tuple[float, int]]:  # per analyzer, however its constructor ran
        return {}

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = super().voice_confidence(buffer)  # type: ignore[safe-super]  # a mixin before an analyzer
        if confidence >= self.params.confidence:
            self.last_voice = time.monotonic()
            self.voiced_windows += 1
        return confidence


class WebRTCVADAnalyzer(VADAnalyzer):
    """The WebRTC GMM voice detector: far cheaper than Silero, coarser on noisy lines.

    It answers speech / not speech per 30 ms frame; pipecat's analyzer turns that
    (as confidence 1.0 or 0.0) and the volume gate into start and stop events.
    """

    FRAME_MS = 30

    def __init__(self, *, aggressiveness: int = 2, sample_rate: int | None = None, params: VADParams | None = None):
        super().__init__(sample_rate=sample_rate, params=params)
        self._vad = webrtcvad.Vad(aggressiveness)

    def set_sample_rate(self, sample_rate: int):
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"webrtcvad cannot take {sample_rate} Hz audio")
        super().set_sample_rate(sample_rate)

    def num_frames_required(self) -> int:
        return self.sample_rate * self.FRAME_MS // 1000

    def voice_confidence(self, buffer: bytes) -> float:
        return 1.0 if self._vad.is_speech(buffer, self.sample_rate) else 0.0


class SileroListener(HearsVoice, SileroVADAnalyzer):
    """Silero on a model session the process loaded once, with this stream's own recurrent state.

    pipecat's analyzer loads the model file for every stream: about 90 ms on
    the event loop at each call's start, while other calls' audio waits.
    """

    def __init__(self, *, model: SileroOnnxModel, params: VADParams):
        VADAnalyzer.__init__(self, params=params)  # not SileroVADAnalyzer's: that loads the model again
        self._model = copy.copy(model)  # the session is shared: it keeps no state between runs
        self._model.reset_states()
        self._windows_since_reset = 0  # as SileroVADAnalyzer sets them (a test compares the two)
        self._low_confidence_windows = 0


class WebRTCListener(HearsVoice, WebRTCVADAnalyzer):
    pass


class VoiceDetectors:
    """The process's VAD, from ``[vad]``: the model loaded once, and a fresh analyzer for each call's stream."""

    def __init__(self, settings: VADSettings):
        self._settings = settings
        self.params = VADParams(
            confidence=settings.confidence,
            start_secs=settings.start_secs,
            stop_secs=settings.stop_secs,
            min_volume=settings.min_volume,
        )
        self._silero: SileroOnnxModel | None = None
        if settings.engine == "silero":
            model = resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx")
            self._silero = SileroOnnxModel(str(model), force_onnx_cpu=True)

    def for_call(self) -> HearsVoice:
        """Analyzers keep per-stream state: one per call."""
        if self._silero is None:
            return WebRTCListener(aggressiveness=self._settings.webrtc_aggressiveness, params=self.params)
        return SileroListener(model=self._silero, params=self.params)
