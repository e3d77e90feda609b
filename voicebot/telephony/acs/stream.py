"""ACS bidirectional media streaming: JSON text frames, 16 kHz PCM both ways.

ACS connects to the ``transportUrl`` voicebot gave when answering, which names
the call (its correlation id), the caller's and the dialled number and the
call's token. The first frame is ``AudioMetadata``; then ``AudioData`` every
20 ms (640 bytes at 16 kHz, base64, ``silent`` frames included) and, with DTMF
tones on, ``DtmfData``. Bot audio goes back as ``AudioData`` in 20 ms frames
(the platform's ``playout.chunk_ms``),
and ``StopAudio`` drops what ACS has queued (barge-in). Microsoft's own samples
write the keys in different casings, so incoming keys are read case-insensitively.
ACS echoes no marks: they stay local (:mod:`~voicebot.pipeline.playback_marks`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

import numpy as np
import soxr
from fastapi import WebSocket
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.audio.utils import create_stream_resampler
from pipecat.frames.frames import (
    AudioRawFrame,
    Frame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.serializers.base_serializer import FrameSerializer
from starlette.websockets import WebSocketDisconnect

from voicebot.pipeline.playback_marks import local_mark
from voicebot.telephony.stream import (
    HANDSHAKE_TIMEOUT_SECS,
    CallSerializer,
    ProtocolError,
    SkipsBadMessages,
    StreamStart,
    close_stream,
)

ACS_RATE = 16000
DIGITS = {key.value: key for key in KeypadEntry}


def folded(message: dict[str, Any]) -> dict[str, Any]:
    """The message with its keys lower-cased, one level down too (``Kind``/``kind``, ``AudioData``/``audioData``)."""
    return {k.lower(): folded(v) if isinstance(v, dict) else v for k, v in message.items()}


class AcsHandshake:
    """Reads ``AudioMetadata``; who is calling comes from the stream URL voicebot built when it answered."""

    async def open(self, websocket: WebSocket) -> StreamStart:
        query = websocket.query_params
        call_id = query.get("call") or websocket.headers.get("x-ms-call-correlation-id", "")
        if not call_id:
            raise ProtocolError("stream URL without its call")
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_SECS):
            message = await websocket.receive()
        if message.get("type") == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), "before AudioMetadata")
        text = message.get("text")
        if text is None:
            raise ProtocolError("binary frame before AudioMetadata")
        try:
            first = folded(json.loads(text))
        except (json.JSONDecodeError, AttributeError):
            raise ProtocolError("AudioMetadata is not a JSON object") from None
        if str(first.get("kind", "")).lower() != "audiometadata":
            raise ProtocolError(f"expected AudioMetadata, got {first.get('kind')!r}")
        metadata = first.get("audiometadata") or {}
        rate, encoding = metadata.get("samplerate"), str(metadata.get("encoding", "PCM")).upper()
        if rate != ACS_RATE or encoding != "PCM" or metadata.get("channels", 1) != 1:
            raise ProtocolError(f"unsupported audio {encoding} {rate} Hz x{metadata.get('channels')} (PCM 16000 x1)")
        return StreamStart(
            call_id=call_id,
            stream_id=str(metadata.get("subscriptionid") or call_id),
            caller=query.get("from", ""),
            dialed=query.get("to", ""),
            encoding="L16",
            sample_rate=ACS_RATE,
            parameters={"token": query.get("token", "")},
        )

    async def refuse(self, websocket: WebSocket, code: int, reason: str) -> None:
        await close_stream(websocket, code, reason[:120])

    async def opened(self, websocket: WebSocket, serializer: FrameSerializer) -> bool:
        return True


class AcsMediaSerializer(SkipsBadMessages, CallSerializer):
    def __init__(self, start: StreamStart):
        super().__init__()
        self.stream_label = f"acs call {start.call_id}"
        self._rate = ACS_RATE  # the pipeline's input rate, from setup
        self._to_pipeline = create_stream_resampler()
        self._to_acs: soxr.ResampleStream | None = None
        self._to_acs_from = 0

    async def setup(self, setup: FrameProcessorSetup):  # type: ignore[override]  # as pipecat's serializers
        self._rate = setup.audio_in_sample_rate

    def mark_message(self, name: str) -> dict[str, Any]:
        return local_mark(name)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, InterruptionFrame):
            return json.dumps({"Kind": "StopAudio", "AudioData": None, "StopAudio": {}})
        if isinstance(frame, AudioRawFrame):
            pcm = self._upsample(frame.audio, frame.sample_rate)
            if not pcm:
                return None
            data = base64.b64encode(pcm).decode()
            return json.dumps({"Kind": "AudioData", "AudioData": {"Data": data}, "StopAudio": None})
        return None  # marks stay local; nothing else goes to ACS

    def _upsample(self, pcm: bytes, rate: int) -> bytes:
        """Bot audio at ACS's rate. Quick cubic: the HQ resampler holds ~100 ms back before its first output,
        which the caller would wait through at every reply's start (telephone audio needs no better)."""
        if rate == ACS_RATE:
            return pcm
        if self._to_acs is None or self._to_acs_from != rate:
            self._to_acs, self._to_acs_from = soxr.ResampleStream(rate, ACS_RATE, 1, dtype="int16", quality="QQ"), rate
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype=np.int16)
        return self._to_acs.resample_chunk(samples).tobytes()

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            self._skip("binary frame where ACS sends JSON text")
            return None
        message = self._json_object(data)
        if message is None:
            return None
        message = folded(message)
        kind = str(message.get("kind", "")).lower()
        if kind == "audiodata":
            audio = message.get("audiodata")
            if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
                self._skip("AudioData without data")
                return None
            try:
                pcm = base64.b64decode(audio["data"], validate=True)
            except (binascii.Error, ValueError):
                self._skip("AudioData that is not base64")
                return None
            if len(pcm) % 2:
                self._skip(f"odd-length AudioData ({len(pcm)} bytes)")
                return None
            pcm = await self._to_pipeline.resample(pcm, ACS_RATE, self._rate)
            return InputAudioRawFrame(audio=pcm, sample_rate=self._rate, num_channels=1) if pcm else None
        if kind == "dtmfdata":
            digit = str((message.get("dtmfdata") or {}).get("data", ""))
            if digit not in DIGITS:
                self._skip(f"DtmfData with {digit!r}")
                return None
            return InputDTMFFrame(button=DIGITS[digit])
        if kind in ("audiometadata", "transcriptionmetadata", "transcriptiondata"):
            return None
        self._skip(f"unknown kind {message.get('kind')!r}")
        return None
