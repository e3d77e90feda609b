"""Genesys Cloud AudioConnector (AudioHook v2): the bot ends a call with ``disconnect`` and output variables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicebot.telephony.genesys import routes
from voicebot.telephony.genesys.control import GenesysCallControl
from voicebot.telephony.genesys.handshake import GenesysHandshake
from voicebot.telephony.genesys.stream import GenesysMediaSerializer
from voicebot.telephony.platform import Platform
from voicebot.telephony.stream import CallSerializer, StreamStart

if TYPE_CHECKING:
    from voicebot.server.runtime import Runtime


def _control(runtime: Runtime, start: StreamStart, serializer: CallSerializer) -> GenesysCallControl:
    assert isinstance(serializer, GenesysMediaSerializer)  # made by this platform's serializer factory
    return GenesysCallControl(serializer)


PLATFORM = Platform(
    "genesys",
    routes.router,
    "/genesys/audioconnector",
    GenesysHandshake,
    lambda start: GenesysMediaSerializer(),
    _control,
    upgrade_allowed=routes.api_key_valid,
    media_token=False,  # Genesys authenticates the connection with its X-API-KEY instead
    playback_marks=True,
)
