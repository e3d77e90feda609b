"""Vonage: an NCCO ``connect`` to our websocket; transfer and hang-up through the Voice API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicebot.telephony.control import RESTCallControl
from voicebot.telephony.platform import JsonHandshake, Platform
from voicebot.telephony.stream import CallSerializer, StreamStart
from voicebot.telephony.vonage import routes, stream

if TYPE_CHECKING:
    from voicebot.server.runtime import Runtime


def _control(runtime: Runtime, start: StreamStart, serializer: CallSerializer) -> RESTCallControl:
    assert runtime.vonage is not None  # Platform.unavailable refused the stream otherwise
    return RESTCallControl("vonage", runtime.vonage, runtime.settings.transfer, start.dialed)


PLATFORM = Platform(
    "vonage",
    routes.router,
    "/vonage/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.VonageMediaSerializer,
    _control,
    unavailable=lambda runtime: None if runtime.vonage is not None else routes.NOT_CONFIGURED,
    playback_marks=True,
    out_chunk_ms=20,  # Vonage plays 20 ms frames
)
