"""Twilio: Media Streams behind ``<Connect><Stream>``, TwiML webhooks, and a REST redirect for transfers."""

from voicebot.pipeline.transport import Playout
from voicebot.telephony.platform import JsonHandshake, Platform
from voicebot.telephony.twilio import routes, stream
from voicebot.telephony.twilio.control import TwilioCallControl

PLATFORM = Platform(
    "twilio",
    routes.router,
    "/twilio/media",
    lambda: JsonHandshake(stream.parse_start),
    stream.TwilioMediaSerializer,
    lambda runtime, start, serializer: TwilioCallControl(runtime.handover),
    playout=Playout.buffered(),
)
