"""Plivo: a bidirectional ``<Stream>`` answered by our XML; closing it runs the ``<Redirect>`` that hands over."""

from voicebot.pipeline.transport import Playout
from voicebot.telephony.control import StreamCloseCallControl
from voicebot.telephony.platform import JsonHandshake, Platform
from voicebot.telephony.plivo import routes, stream

PLATFORM = Platform(
    "plivo",
    routes.router,
    "/plivo/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.PlivoMediaSerializer,
    lambda runtime, start, serializer: StreamCloseCallControl(),
    playout=Playout.buffered(),
)
