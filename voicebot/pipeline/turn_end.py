"""When the caller has finished: a short pause the Smart Turn model calls complete, or a long pause.

A fixed silence threshold trades speed for interruptions: half a second makes
every reply wait half a second, a fifth of a second cuts off callers who pause
mid-sentence. The gate lets the VAD report a pause early (``vad.stop_secs``),
asks Smart Turn v3 (bundled with pipecat) whether the turn sounds finished, and
only if not holds the stop back until ``vad.max_pause_secs`` of silence. If the
caller speaks again meanwhile, the held stop and the new start are dropped: for
speech recognition and the dialogue it is one turn.
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources

import numpy as np
import onnxruntime as ort
import soxr
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.metrics import Timings

MODEL_RATE = 16000
MODEL_SECS = 8  # the model looks at the last 8 s of the turn


class EndOfTurnModel:
    """Smart Turn v3: the probability that a turn's audio ends a finished utterance. One per process."""

    def __init__(self, threads: int = 1):
        path = resources.files("pipecat.audio.turn.smart_turn.data").joinpath("smart-turn-v3.2-cpu.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), sess_options=options)

    def probability(self, pcm16: bytes, sample_rate: int) -> float:
        """Blocking; run it off the event loop."""
        audio = np.frombuffer(pcm16, dtype=np.int16).astype(np.float32) / 32768.0
        if sample_rate != MODEL_RATE:
            audio = soxr.resample(audio, sample_rate, MODEL_RATE)
        audio = audio[-MODEL_SECS * MODEL_RATE :]
        audio = np.pad(audio, (MODEL_SECS * MODEL_RATE - audio.size, 0))
        features = compute_whisper_log_mel_features(audio, do_normalize=True)
        return float(self._session.run(None, {"input_features": features[None]})[0].reshape(-1)[0])


class TurnEndGate(FrameProcessor):
    """Between the VAD and everything that acts on the caller stopping (STT, dialogue)."""

    def __init__(self, model: EndOfTurnModel, *, max_pause_secs: float, timings: Timings, threshold: float = 0.5):
        super().__init__()
        self._model = model
        self._max_pause = max_pause_secs
        self._timings = timings
        self._threshold = threshold
        self._audio = bytearray()
        self._sample_rate = MODEL_RATE
        self._in_turn = False
        self._held: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if self._in_turn:
                self._keep(frame)
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStartedSpeakingFrame) and direction is FrameDirection.DOWNSTREAM:
            if self._held is not None:  # a pause inside the turn, not its end
                await self.cancel_task(self._held)
                self._held = None
                return
            self._audio.clear()
            self._in_turn = True
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and direction is FrameDirection.DOWNSTREAM:
            await self._on_pause(frame)
        elif isinstance(frame, (EndFrame, CancelFrame)):
            if self._held is not None:
                await self.cancel_task(self._held)
                self._held = None
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    def _keep(self, frame: InputAudioRawFrame) -> None:
        self._sample_rate = frame.sample_rate
        self._audio += frame.audio
        del self._audio[: max(0, len(self._audio) - MODEL_SECS * frame.sample_rate * 2)]

    async def _on_pause(self, frame: VADUserStoppedSpeakingFrame) -> None:
        started = time.perf_counter()
        finished = await asyncio.to_thread(self._model.probability, bytes(self._audio), self._sample_rate)
        self._timings.observe("turn_model", time.perf_counter() - started)
        if finished >= self._threshold or frame.stop_secs >= self._max_pause:
            self._end_turn()
            await self.push_frame(frame)
        else:
            self._held = self.create_task(self._end_after_max_pause(frame.stop_secs), "turn-end")

    async def _end_after_max_pause(self, waited: float) -> None:
        await asyncio.sleep(self._max_pause - waited)
        self._held = None
        self._end_turn()
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=self._max_pause))

    def _end_turn(self) -> None:
        self._in_turn = False
        self._audio.clear()
