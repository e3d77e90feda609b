"""Twilio Media Streams: the ``start`` handshake and a serializer that also speaks marks.

pipecat's :class:`TwilioFrameSerializer` converts audio, DTMF and ``clear``; this
adds what a contact-center bot needs on top: the ``mark`` echo (the caller has
heard a prompt), ``stop`` (the caller hung up), and skipping malformed messages
with a logged reason instead of ending the call.
"""

from __future__ import annotations

import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pipecat.frames.frames import Frame
from pipecat.serializers.twilio import TwilioFrameSerializer

from voicebot.pipeline.frames import CallerHungUpFrame, MarkEchoFrame

log = logging.getLogger(__name__)


class ProtocolError(Exception):
    """The peer broke the Media Streams protocol in a way that ends the call."""


@dataclass(frozen=True, slots=True)
class TwilioStart:
    stream_sid: str
    call_sid: str
    account_sid: str | None
    caller: str
    dialed: str
    custom_parameters: dict[str, str] = field(default_factory=dict)


def parse_start(message: dict[str, Any]) -> TwilioStart:
    start = message.get("start")
    if not isinstance(start, dict):
        raise ProtocolError("start event without a 'start' object")
    stream_sid = start.get("streamSid") or message.get("streamSid")
    call_sid = start.get("callSid")
    if not isinstance(stream_sid, str) or not stream_sid:
        raise ProtocolError("start event without streamSid")
    if not isinstance(call_sid, str) or not call_sid:
        raise ProtocolError("start event without callSid")
    media_format = start.get("mediaFormat") or {}
    if media_format and (
        media_format.get("encoding") not in (None, "audio/x-mulaw") or int(media_format.get("sampleRate", 8000)) != 8000
    ):
        raise ProtocolError(f"unsupported media format {media_format}")
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise ProtocolError("customParameters is not an object")
    params = {str(k): str(v) for k, v in params.items()}
    return TwilioStart(
        stream_sid=stream_sid,
        call_sid=call_sid,
        account_sid=start.get("accountSid"),
        caller=params.get("from", ""),
        dialed=params.get("to", ""),
        custom_parameters=params,
    )


class TwilioMediaSerializer(TwilioFrameSerializer):
    """Twilio serializer with marks in and out; hang-up is ours, not a REST call."""

    def __init__(self, stream_sid: str, call_sid: str):
        super().__init__(stream_sid, call_sid, params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
        self.skipped = 0

    def mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "streamSid": self._stream_sid, "mark": {"name": name}}

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return self._skip("binary frame where Media Streams sends text")
        try:
            message = json.loads(data)
        except json.JSONDecodeError as exc:
            return self._skip(f"invalid JSON ({exc.msg})")
        if not isinstance(message, dict):
            return self._skip("message is not a JSON object")
        event = message.get("event")
        if event == "mark":
            name = (message.get("mark") or {}).get("name")
            return MarkEchoFrame(mark=str(name)) if name else self._skip("mark without a name")
        if event == "stop":
            return CallerHungUpFrame(reason="stop")
        if event == "media":
            media = message.get("media")
            if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
                return self._skip("media without a payload")
            if media.get("track", "inbound") not in ("inbound", "inbound_track"):
                return None
        try:
            return await super().deserialize(data)
        except (binascii.Error, ValueError) as exc:
            return self._skip(f"undecodable {event} ({exc})")

    def _skip(self, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= 5 or self.skipped % 100 == 0:
            log.warning("stream %s: skipped message #%d: %s", self._stream_sid, self.skipped, reason)
        return None
