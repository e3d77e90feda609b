"""Plivo audio streams (``<Stream bidirectional="true" keepCallAlive="true">``).

``start`` carries ``callId`` and ``streamId``; the caller's number comes from the
``extraHeaders`` our answer XML set (:mod:`voicebot.telephony.plivo.xml`), as
``extra_headers``. Audio is mu-law 8 kHz: ``media`` in, ``playAudio`` out;
``clearAudio`` on barge-in; a ``checkpoint`` we send comes back as
``playedStream`` once the audio before it has played. When the bot closes the
stream, Plivo goes on to the ``<Redirect>`` after it, which hands over or hangs up.
"""

from __future__ import annotations

import json
from typing import Any

from pipecat.serializers.plivo import PlivoFrameSerializer

from voicebot.telephony.stream import (
    CallSerializer,
    GuardedStream,
    ProtocolError,
    StreamStart,
    media_format,
    refuses_malformed,
    required,
    start_object,
)


def extra_headers(value: Any) -> dict[str, str]:
    """``extra_headers`` as Plivo sends it: a JSON object, its string form, or ``k=v`` pairs."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            pairs = [p.partition("=") for p in value.replace(";", ",").split(",") if "=" in p]
            return {k.strip(): v.strip() for k, _, v in pairs}
    if not isinstance(value, dict):
        raise ProtocolError("extra_headers is neither an object nor key=value pairs")
    return {str(k): str(v) for k, v in value.items()}


@refuses_malformed
def parse_start(message: dict[str, Any]) -> StreamStart | None:
    start = start_object(message, passed_over=())
    assert start is not None
    fmt, rate = media_format(start, "mediaFormat")
    if fmt.get("encoding") not in (None, "audio/x-mulaw") or rate != 8000:
        raise ProtocolError(f"unsupported media format {fmt} (audio/x-mulaw at 8 kHz)")
    headers = extra_headers(message.get("extra_headers", start.get("extra_headers")))
    return StreamStart(
        call_id=required(start, "callId", "start event"),
        stream_id=required(start, "streamId", "start event"),
        caller=headers.get("from", ""),
        dialed=headers.get("to", ""),
        parameters=headers,
    )


class PlivoMediaSerializer(GuardedStream, PlivoFrameSerializer, CallSerializer):
    mark_echo_event = "playedStream"
    ignored_events = ("clearedAudio",)

    def __init__(self, start: StreamStart):
        super().__init__(start.stream_id, start.call_id, params=PlivoFrameSerializer.InputParams(auto_hang_up=False))
        self.stream_label = f"plivo stream {start.stream_id}"

    def mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "checkpoint", "streamId": self._stream_id, "name": name}

    def mark_echo_name(self, message: dict[str, Any]) -> Any:
        return message.get("name")
