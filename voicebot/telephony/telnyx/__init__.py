"""Telnyx: Call Control answers onto a bidirectional media stream; transfer and hang-up are REST commands."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicebot.telephony.control import RESTCallControl
from voicebot.telephony.platform import JsonHandshake, Platform
from voicebot.telephony.stream import CallSerializer, StreamStart
from voicebot.telephony.telnyx import routes, stream

if TYPE_CHECKING:
    from voicebot.server.runtime import Runtime


def _control(runtime: Runtime, start: StreamStart, serializer: CallSerializer) -> RESTCallControl:
    assert runtime.telnyx is not None  # Platform.unavailable refused the stream otherwise
    return RESTCallControl("telnyx", runtime.telnyx, runtime.settings.transfer, start.dialed)


PLATFORM = Platform(
    "telnyx",
    routes.router,
    "/telnyx/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.TelnyxMediaSerializer,
    _control,
    unavailable=lambda runtime: None if runtime.telnyx is not None else routes.NOT_CONFIGURED,
)
