"""Vonage Voice API websockets (an NCCO ``connect`` to a ``websocket`` endpoint).

The first text message is ``websocket:connected`` with the endpoint's custom
headers flattened into it: our answer NCCO (:mod:`voicebot.telephony.vonage.api`)
puts the caller's number and the caller leg's ``call_uuid`` there. Audio is
binary 16-bit linear PCM at the ``content-type`` rate, in 20 ms frames;
``websocket:dtmf`` brings digits and ``{"action": "clear"}`` drops queued audio.
There is no mark echo, so marks stay local (:mod:`~voicebot.pipeline.playback_marks`).
Hang-up and transfer go through the Voice API's call update.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pipecat.frames.frames import Frame
from pipecat.serializers.vonage import VonageFrameSerializer

from voicebot.pipeline.playback_marks import local_mark
from voicebot.telephony.stream import (
    CallSerializer,
    ProtocolError,
    SkipsBadMessages,
    StreamStart,
    is_local_mark,
    refuses_malformed,
    required,
)

log = logging.getLogger(__name__)

RATES = (8000, 16000, 24000)
PASSED_OVER = ("websocket:cleared", "websocket:notify")


@refuses_malformed
def parse_start(message: dict[str, Any]) -> StreamStart:
    if message.get("event") != "websocket:connected":
        raise ProtocolError(f"expected 'websocket:connected', got {message.get('event')!r}")
    content_type = str(message.get("content-type", ""))
    m = re.fullmatch(r"audio/l16;\s*rate=(\d+)", content_type.strip().lower())
    if not m or int(m.group(1)) not in RATES:
        raise ProtocolError(f"unsupported content-type {content_type!r} (audio/l16;rate=8000|16000|24000)")
    call_uuid = required(message, "call_uuid", "websocket:connected")
    headers = {k: str(v) for k, v in message.items() if k not in ("event", "content-type")}
    return StreamStart(
        call_id=call_uuid,
        stream_id=str(message.get("conversation_uuid") or call_uuid),
        caller=str(message.get("from") or ""),
        dialed=str(message.get("to") or ""),
        encoding="L16",
        sample_rate=int(m.group(1)),
        parameters=headers,
    )


class VonageMediaSerializer(SkipsBadMessages, VonageFrameSerializer, CallSerializer):
    """pipecat's Vonage serializer, tolerant of bad frames and keeping local marks off the wire."""

    def __init__(self, start: StreamStart):
        super().__init__(VonageFrameSerializer.InputParams(vonage_sample_rate=start.sample_rate))
        self.stream_label = f"vonage call {start.call_id}"

    def mark_message(self, name: str) -> dict[str, Any]:
        return local_mark(name)

    async def serialize(self, frame: Frame) -> str | bytes | None:
        if is_local_mark(frame):
            return None
        return await super().serialize(frame)

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            if len(data) % 2:
                self._skip(f"odd-length audio frame ({len(data)} bytes)")
                return None
            return await super().deserialize(data)
        message = self._json_object(data)
        if message is None:
            return None
        event = message.get("event")
        if event in PASSED_OVER:
            return None
        if event == "websocket:dtmf":
            digit = message.get("digit", (message.get("dtmf") or {}).get("digit"))
            if digit is None:
                self._skip("websocket:dtmf without a digit")
                return None
        elif event == "websocket:error":
            log.warning("%s: Vonage reported an error: %s", self.stream_label, str(message)[:300])
            return None
        return await super().deserialize(data)
