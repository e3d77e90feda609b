"""Genesys Cloud AudioConnector (AudioHook protocol v2, bot side).

The session starts with ``open`` (the caller's number is ``participant.ani``),
answered with ``opened``; audio is binary PCMU at 8 kHz both ways. The bot
cannot transfer by itself: it sends ``disconnect`` with string-valued
``outputVariables`` that the Architect flow routes on, and Genesys answers with
``close``, which is answered with ``closed``. Protocol errors end the session
with ``disconnect`` (reason ``error``), never by crashing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from pipecat.frames.frames import CancelFrame, EndFrame, Frame, OutputTransportMessageUrgentFrame
from pipecat.serializers.genesys import GenesysAudioHookSerializer

from voicebot.pipeline.frames import CallerHungUpFrame, ProtocolViolationFrame
from voicebot.pipeline.playback_marks import local_mark
from voicebot.telephony.stream import CallSerializer, ProtocolError, close_stream, refuses_malformed, send_unless_gone

log = logging.getLogger(__name__)

KNOWN_TYPES = {
    "open",
    "close",
    "ping",
    "pause",
    "resume",
    "update",
    "error",
    "dtmf",
    "playback_started",
    "playback_completed",
    "discarded",
}


@dataclass(frozen=True, slots=True)
class GenesysOpen:
    session_id: str
    conversation_id: str
    ani: str
    dnis: str
    message: dict[str, Any]


@refuses_malformed
def parse_open(text: str) -> GenesysOpen:
    try:
        message = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"invalid JSON ({exc.msg})") from None
    if not isinstance(message, dict) or message.get("type") != "open":
        raise ProtocolError("the first message must be 'open'")
    if message.get("version") != "2":
        raise ProtocolError(f"unsupported protocol version {message.get('version')!r}")
    if message.get("seq") != 1 or not isinstance(message.get("id"), str):
        raise ProtocolError("'open' needs seq 1 and a session id")
    params = message.get("parameters")
    if not isinstance(params, dict) or not isinstance(params.get("participant"), dict):
        raise ProtocolError("'open' without parameters.participant")
    media = params.get("media") or []
    if not any(isinstance(m, dict) and m.get("format") == "PCMU" and m.get("rate") == 8000 for m in media):
        raise ProtocolError("no PCMU 8 kHz media offered")
    participant = params["participant"]
    return GenesysOpen(
        session_id=message["id"],
        conversation_id=str(params.get("conversationId") or message["id"]),
        ani=str(participant.get("ani") or ""),
        dnis=str(participant.get("dnis") or ""),
        message=message,
    )


class GenesysMediaSerializer(GenesysAudioHookSerializer, CallSerializer):
    """pipecat's AudioHook serializer, strict about sequence numbers and message types.

    It does not send ``disconnect`` by itself at the end of the pipeline: the call
    control does, with the transfer's output variables, or as an error.
    """

    def __init__(self):
        super().__init__(GenesysAudioHookSerializer.InputParams())
        self.disconnected = False  # our disconnect went out: only Genesys's close is awaited
        self.closing = False  # Genesys's close came and is answered

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return await super().deserialize(data)
        try:
            message = json.loads(data)
        except json.JSONDecodeError as exc:
            return ProtocolViolationFrame(reason=f"invalid JSON ({exc.msg})")
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return ProtocolViolationFrame(reason="message without a type")
        if self.closing:
            return None  # Genesys's close is answered once; the session is over
        if self.disconnected:
            # After our disconnect only Genesys's close matters, and it is answered whatever its seq: one error,
            # never a second one that would leave Genesys waiting for "closed".
            if message["type"] != "close":
                return None
            if isinstance(message.get("seq"), int):
                self._client_seq = message["seq"] - 1
        seq = message.get("seq")
        if not isinstance(seq, int) or seq != self._client_seq + 1:
            return ProtocolViolationFrame(reason=f"out-of-order seq {seq!r} (expected {self._client_seq + 1})")
        self._client_seq = seq  # counted before the type is looked at, as the AudioHook reference server does
        if message["type"] not in KNOWN_TYPES:
            return ProtocolViolationFrame(reason=f"unknown message type {message['type']!r}")
        frame = await super().deserialize(data)
        if message["type"] == "close":
            self.closing = True
            reply = frame.message if isinstance(frame, OutputTransportMessageUrgentFrame) else None
            return CallerHungUpFrame(reason="genesys_close", reply=reply)
        return frame

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if isinstance(frame, (EndFrame, CancelFrame)):
            return None
        return await super().serialize(frame)

    def mark_message(self, name: str) -> dict[str, Any]:
        """AudioHook has no mark echo: the mark stays local (see :mod:`~voicebot.pipeline.playback_marks`)."""
        return local_mark(name)

    def disconnect(self, reason: str, output_variables: dict[str, str] | None = None, info: str | None = None):
        message = self.create_disconnect_message(reason=reason, output_variables=output_variables, info=info)
        self.disconnected = True
        if output_variables is None:
            message["parameters"].pop("outputVariables", None)
        return message


async def refuse(websocket: WebSocket, session_id: str, reason: str) -> None:
    """Answer a broken ``open`` as the protocol says: ``disconnect`` with reason ``error``."""
    message = {
        "version": "2",
        "type": "disconnect",
        "seq": 1,
        "clientseq": 1,
        "id": session_id,
        "parameters": {"reason": "error", "info": reason},
    }
    if await send_unless_gone(websocket, json.dumps(message)):
        await close_stream(websocket, 1000)
