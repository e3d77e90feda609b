"""Vonage: an NCCO ``connect`` to our websocket; transfer and hang-up through the Voice API."""

from voicebot.pipeline.transport import Playout
from voicebot.telephony.platform import JsonHandshake, Platform, rest_control
from voicebot.telephony.vonage import routes, stream

PLATFORM = Platform(
    "vonage",
    routes.router,
    "/vonage/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.VonageMediaSerializer,
    rest_control("vonage", lambda runtime: runtime.vonage),
    unavailable=lambda runtime: None if runtime.vonage is not None else routes.NOT_CONFIGURED,
    playback_marks=True,
    playout=Playout(chunk_ms=20),  # Vonage plays 20 ms frames
)
