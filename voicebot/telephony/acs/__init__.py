"""Azure Communication Services Call Automation: Event Grid brings the call, REST answers it onto a media websocket.

The stream is a fork of the call: the bot transfers (to a Teams user or a
number) and hangs up with REST commands, whose results come back as callbacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import WebSocket

from voicebot.pipeline.transport import Playout
from voicebot.telephony.acs import routes
from voicebot.telephony.acs.control import AcsCallControl
from voicebot.telephony.acs.stream import AcsHandshake, AcsMediaSerializer
from voicebot.telephony.acs.tokens import InvalidToken
from voicebot.telephony.platform import Platform
from voicebot.telephony.stream import CallSerializer, StreamStart

if TYPE_CHECKING:
    from voicebot.server.runtime import Runtime


async def jwt_valid(websocket: WebSocket, runtime: Runtime) -> bool:
    """ACS's bearer JWT on the upgrade, when ``acs.resource_id`` names its audience (the call token is checked too)."""
    verifier = runtime.acs.verifier if runtime.acs is not None else None
    if verifier is None:
        return True
    try:
        await verifier.verify(websocket.headers.get("authorization"))
    except InvalidToken as exc:
        routes.log.warning("acs media stream refused: %s", exc)
        return False
    return True


def _control(runtime: Runtime, start: StreamStart, serializer: CallSerializer) -> AcsCallControl:
    assert runtime.acs is not None  # Platform.unavailable refuses the stream before it gets here
    return AcsCallControl(runtime.acs, start.call_id, runtime.settings.transfer, start.dialed)


PLATFORM = Platform(
    "acs",
    routes.router,
    "/acs/media",
    AcsHandshake,
    AcsMediaSerializer,
    _control,
    unavailable=lambda runtime: None if runtime.acs is not None else routes.NOT_CONFIGURED,
    upgrade_allowed=jwt_valid,
    playback_marks=True,
    playout=Playout(chunk_ms=20),
)
