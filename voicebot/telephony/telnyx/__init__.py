"""Telnyx: Call Control answers onto a bidirectional media stream; transfer and hang-up are REST commands."""

from voicebot.pipeline.transport import Playout
from voicebot.telephony.platform import JsonHandshake, Platform, rest_control
from voicebot.telephony.telnyx import routes, stream

PLATFORM = Platform(
    "telnyx",
    routes.router,
    "/telnyx/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.TelnyxMediaSerializer,
    rest_control("telnyx", lambda runtime: runtime.telnyx),
    unavailable=lambda runtime: None if runtime.telnyx is not None else routes.NOT_CONFIGURED,
    playout=Playout.buffered(),
)
