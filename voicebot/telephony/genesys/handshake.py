"""AudioHook's opening: ``open`` says who is calling, ``opened`` lets audio flow, ``disconnect`` refuses."""

from __future__ import annotations

import asyncio
import json

from fastapi import WebSocket
from pipecat.frames.frames import OutputTransportMessageUrgentFrame
from pipecat.serializers.base_serializer import FrameSerializer
from starlette.websockets import WebSocketDisconnect

from voicebot.telephony.genesys.stream import parse_open, refuse
from voicebot.telephony.stream import HANDSHAKE_TIMEOUT_SECS, ProtocolError, StreamStart, send_unless_gone

NIL_UUID = "00000000-0000-0000-0000-000000000000"


class GenesysHandshake:
    def __init__(self) -> None:
        self._text = ""

    async def open(self, websocket: WebSocket) -> StreamStart:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_SECS):
            message = await websocket.receive()
        if message.get("type") == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), "before 'open'")
        if message.get("text") is None:
            raise ProtocolError("binary frame before 'open'")
        self._text = message["text"]
        opened = parse_open(self._text)
        return StreamStart(
            call_id=opened.conversation_id, stream_id=opened.session_id, caller=opened.ani, dialed=opened.dnis
        )

    async def refuse(self, websocket: WebSocket, code: int, reason: str) -> None:
        """``disconnect`` with reason ``error``, whatever the websocket code would have been."""
        await refuse(websocket, _session_id(self._text), reason)

    async def opened(self, websocket: WebSocket, serializer: FrameSerializer) -> bool:
        reply = await serializer.deserialize(self._text)  # "opened", sent before any audio flows
        if not isinstance(reply, OutputTransportMessageUrgentFrame):
            return False
        return await send_unless_gone(websocket, json.dumps(reply.message))


def _session_id(text: str) -> str:
    """The session id of a refused ``open``, if it had one."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        message = None
    return str(message.get("id") or NIL_UUID) if isinstance(message, dict) else NIL_UUID
