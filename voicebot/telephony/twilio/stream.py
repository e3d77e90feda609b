"""Twilio Media Streams: the ``start`` message and a serializer that also speaks marks.

pipecat's :class:`TwilioFrameSerializer` converts audio, DTMF and ``clear``; the
:class:`~voicebot.telephony.stream.GuardedStream` in front of it adds the
``mark`` echo (the caller has heard a prompt), ``stop`` (the caller hung up) and
skipping malformed messages. Hang-up and transfer are ours, not pipecat's REST call.
"""

from __future__ import annotations

from typing import Any

from pipecat.serializers.twilio import TwilioFrameSerializer

from voicebot.telephony.stream import (
    CallSerializer,
    GuardedStream,
    ProtocolError,
    StreamStart,
    media_format,
    refuses_malformed,
    required,
    start_object,
    text_params,
)


@refuses_malformed
def parse_start(message: dict[str, Any]) -> StreamStart | None:
    """``connected`` comes first and is passed over; the caller's number is a ``<Parameter>``."""
    start = start_object(message)
    if start is None:
        return None
    stream_sid = start.get("streamSid") or message.get("streamSid")
    if not isinstance(stream_sid, str) or not stream_sid:
        raise ProtocolError("start event without streamSid")
    call_sid = required(start, "callSid", "start event")
    fmt, rate = media_format(start, "mediaFormat")
    if fmt.get("encoding") not in (None, "audio/x-mulaw") or rate != 8000:
        raise ProtocolError(f"unsupported media format {fmt}")
    params = text_params(start.get("customParameters"), "customParameters")
    return StreamStart(
        call_id=call_sid,
        stream_id=stream_sid,
        caller=params.get("from", ""),
        dialed=params.get("to", ""),
        parameters=params,
    )


class TwilioMediaSerializer(GuardedStream, TwilioFrameSerializer, CallSerializer):
    def __init__(self, start: StreamStart):
        super().__init__(start.stream_id, start.call_id, params=TwilioFrameSerializer.InputParams(auto_hang_up=False))
        self.stream_label = f"twilio stream {start.stream_id}"

    def mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "streamSid": self._stream_sid, "mark": {"name": name}}
