"""Whether the caller's voice sounds finished: pipecat's Smart Turn v3.2, bundled in its wheel.

The model hears the last 8 s of the turn at 16 kHz (the pipeline's input rate,
so 8 kHz phone audio is already upsampled, avoiding the bug noted in
``../shared/specs/turn-taking-and-peers.md``) and gives the probability that
the turn is complete. One ONNX session on one thread serves every call in the
process; it runs on the :mod:`inference queue <voicebot.pipeline.inference>`.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Protocol

import numpy as np
import onnxruntime as ort
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

RATE = 16000
WINDOW_SECS = 8
MODEL = "smart-turn-v3.2-cpu.onnx"


class EndOfTurnModel(Protocol):
    def complete(self, samples: np.ndarray) -> float:
        """P(the turn is complete) for float32 mono audio at 16 kHz ending at the pause."""
        ...


class SmartTurn:
    def __init__(self, path: str | None = None):
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        model = path or str(resources.files("pipecat.audio.turn.smart_turn.data").joinpath(MODEL))
        self._session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])

    def complete(self, samples: np.ndarray) -> float:
        window = WINDOW_SECS * RATE
        audio = samples[-window:].astype(np.float32)
        audio = np.pad(audio, (window - audio.size, 0))  # zeros in front, as the model was trained
        features = compute_whisper_log_mel_features(audio, do_normalize=True)[None]
        return float(np.ravel(self._session.run(None, {"input_features": features})[0])[0])


@functools.cache
def shared_smart_turn() -> SmartTurn:
    """Loaded once per process (about 30 MB), on the first call that needs it."""
    return SmartTurn()
