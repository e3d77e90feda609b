"""Genesys Cloud AudioConnector (AudioHook v2): the bot ends a call with ``disconnect`` and output variables."""

from voicebot.telephony.genesys import routes
from voicebot.telephony.genesys.control import GenesysCallControl
from voicebot.telephony.genesys.handshake import GenesysHandshake
from voicebot.telephony.genesys.stream import GenesysMediaSerializer
from voicebot.telephony.platform import Platform

PLATFORM = Platform(
    "genesys",
    routes.router,
    "/genesys/audioconnector",
    GenesysHandshake,
    lambda start: GenesysMediaSerializer(),
    lambda runtime, start, serializer: GenesysCallControl(serializer),
    upgrade_allowed=routes.api_key_valid,
    media_token=False,  # Genesys authenticates the connection with its X-API-KEY instead
    playback_marks=True,
)
