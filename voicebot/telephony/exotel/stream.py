"""Exotel Voicebot applet (bidirectional AgentStream).

``start`` carries ``call_sid``, ``from``, ``to`` and the sample rate; audio is
base64 16-bit PCM (8, 16 or 24 kHz) in ``media`` both ways; ``mark`` is echoed
once played; ``clear`` on barge-in. When the bot closes the socket, the call
moves to the flow's next applet: a Passthru on ``/exotel/outcome`` then branches
to a Connect applet (whose "dial whom" URL is ``/exotel/dial-whom``) or a hang-up.
"""

from __future__ import annotations

from typing import Any

from pipecat.serializers.exotel import ExotelFrameSerializer

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

RATES = (8000, 16000, 24000)


@refuses_malformed
def parse_start(message: dict[str, Any]) -> StreamStart | None:
    start = start_object(message)
    if start is None:
        return None
    _, rate = media_format(start, "media_format")
    if rate not in RATES:
        raise ProtocolError(f"unsupported sample rate {rate} (8000, 16000 or 24000)")
    return StreamStart(
        call_id=required(start, "call_sid", "start event"),
        stream_id=str(start.get("stream_sid") or message.get("stream_sid") or required(start, "call_sid", "start")),
        caller=str(start.get("from") or ""),
        dialed=str(start.get("to") or ""),
        encoding="PCM16",
        sample_rate=rate,
        parameters=text_params(start.get("custom_parameters"), "custom_parameters"),
    )


class ExotelMediaSerializer(GuardedStream, ExotelFrameSerializer, CallSerializer):
    def __init__(self, start: StreamStart):
        super().__init__(
            start.stream_id,
            start.call_id,
            params=ExotelFrameSerializer.InputParams(exotel_sample_rate=start.sample_rate),
        )
        self.stream_label = f"exotel stream {start.stream_id}"

    def mark_message(self, name: str) -> dict[str, Any]:
        return {"event": "mark", "stream_sid": self._stream_sid, "mark": {"name": name}}
