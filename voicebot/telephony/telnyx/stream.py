"""Telnyx media streaming (Call Control ``stream_url``, bidirectional RTP mode).

Twilio-like JSON: ``connected``, then ``start`` with ``call_control_id``, ``from``,
``to`` and ``media_format`` (PCMU or PCMA, 8 kHz); ``media``, ``dtmf``, ``mark``,
``error`` and ``stop`` in; ``media``, ``mark`` and ``clear`` out. Closing the
stream does not end a Telnyx call: hang-up and transfer are Call Control
commands (see :mod:`voicebot.telephony.telnyx.api`).
"""

from __future__ import annotations

from typing import Any

from pipecat.serializers.telnyx import TelnyxFrameSerializer

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

ENCODINGS = ("PCMU", "PCMA")


@refuses_malformed
def parse_start(message: dict[str, Any]) -> StreamStart | None:
    start = start_object(message)
    if start is None:
        return None
    stream_id = message.get("stream_id") or start.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise ProtocolError("start event without stream_id")
    fmt, rate = media_format(start, "media_format")
    encoding = str(fmt.get("encoding", "PCMU")).upper()
    if encoding not in ENCODINGS or rate != 8000:
        raise ProtocolError(f"unsupported media format {fmt} (PCMU or PCMA at 8 kHz)")
    return StreamStart(
        call_id=required(start, "call_control_id", "start event"),
        stream_id=stream_id,
        caller=str(start.get("from") or ""),
        dialed=str(start.get("to") or ""),
        encoding=encoding,
        parameters=text_params(start.get("custom_parameters"), "custom_parameters"),
    )


class TelnyxMediaSerializer(GuardedStream, TelnyxFrameSerializer, CallSerializer):
    reported_events = ("error",)

    def __init__(self, start: StreamStart):
        super().__init__(
            stream_id=start.stream_id,
            outbound_encoding=start.encoding,
            inbound_encoding=start.encoding,
            call_control_id=start.call_id,
            params=TelnyxFrameSerializer.InputParams(auto_hang_up=False),
        )
        self.stream_label = f"telnyx stream {start.stream_id}"

    def mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "stream_id": self._stream_id, "mark": {"name": name}}
