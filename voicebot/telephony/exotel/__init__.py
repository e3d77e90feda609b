"""Exotel: the Voicebot applet's stream; the flow's Passthru and Connect applets ask us what next."""

from voicebot.pipeline.transport import Playout
from voicebot.telephony.control import StreamCloseCallControl
from voicebot.telephony.exotel import routes, stream
from voicebot.telephony.platform import JsonHandshake, Platform

PLATFORM = Platform(
    "exotel",
    routes.router,
    "/exotel/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.ExotelMediaSerializer,
    lambda runtime, start, serializer: StreamCloseCallControl(),
    playout=Playout.buffered(chunk_ms=100),  # Exotel wants at least 100 ms per message
)
