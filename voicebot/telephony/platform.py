"""What every telephony platform fills in, so that the server runs each one's calls down one path.

A platform package (``voicebot/telephony/<name>/``) holds its stream parser and
serializer, its call control, its webhooks and its signature checks, and
exports one :class:`Platform`; :mod:`voicebot.telephony.registry` lists them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from fastapi import APIRouter, WebSocket
from pipecat.serializers.base_serializer import FrameSerializer

from voicebot.pipeline.transport import Playout
from voicebot.telephony.control import CallControl, PlatformCalls, RESTCallControl
from voicebot.telephony.stream import CallSerializer, StartParser, StreamStart, close_stream, read_start

if TYPE_CHECKING:
    from voicebot.server.runtime import Runtime


class Handshake(Protocol):
    """How one connection's stream opens, up to the message that says who is calling. One per connection."""

    async def open(self, websocket: WebSocket) -> StreamStart:
        """Raises ProtocolError (or TimeoutError) for a stream that must be refused."""
        ...

    async def refuse(self, websocket: WebSocket, code: int, reason: str) -> None:
        """End a stream we will not take, the way its protocol says."""
        ...

    async def opened(self, websocket: WebSocket, serializer: FrameSerializer) -> bool:
        """What the platform must hear before audio flows; False if it has gone meanwhile."""
        ...


class JsonHandshake:
    """The JSON media streams: text messages until the start message, refusals by websocket close code."""

    def __init__(self, parse_start: StartParser):
        self._parse = parse_start

    async def open(self, websocket: WebSocket) -> StreamStart:
        return await read_start(websocket, self._parse)

    async def refuse(self, websocket: WebSocket, code: int, reason: str) -> None:
        await close_stream(websocket, code, reason[:120])

    async def opened(self, websocket: WebSocket, serializer: FrameSerializer) -> bool:
        return True


async def always(websocket: WebSocket, runtime: Runtime) -> bool:
    return True


def ready(runtime: Runtime) -> str | None:
    return None


@dataclass(frozen=True)
class Platform:
    """One telephony platform: its webhooks, and how its media stream opens, plays and lets go of a call."""

    name: str
    router: APIRouter  # its webhooks; the media websocket is served by the server at ``media_path``
    media_path: str
    handshake: Callable[[], Handshake]
    serializer: Callable[[StreamStart], CallSerializer]
    control: Callable[[Runtime, StreamStart, CallSerializer], CallControl]
    # Why it cannot take calls as configured (None: it can), checked before the stream is accepted.
    unavailable: Callable[[Runtime], str | None] = ready
    # Checked on the upgrade, before accepting: a platform that authenticates its connection (Genesys's API key,
    # ACS's JWT).
    upgrade_allowed: Callable[[WebSocket, Runtime], Awaitable[bool]] = always
    media_token: bool = True  # the per-call token of voicebot.server.access, from the start message or the URL
    playback_marks: bool = False  # no mark echo on the wire: infer "heard" from the send pace
    playout: Playout = Playout()  # bot audio per outgoing message, and how far ahead of playing it may go

    def __post_init__(self):
        if self.playback_marks and self.playout.lead_ms:
            # Its "heard" is the send pace: audio sent ahead would be taken as heard before it had played.
            raise ValueError(f"{self.name}: a platform without mark echoes cannot take audio ahead of playing")


def rest_control(
    name: str, calls_of: Callable[[Runtime], PlatformCalls | None]
) -> Callable[[Runtime, StreamStart, CallSerializer], CallControl]:
    """Call control for a stream that is a fork of the call: the bot transfers or hangs up by the platform's REST."""

    def control(runtime: Runtime, start: StreamStart, serializer: CallSerializer) -> CallControl:
        calls = calls_of(runtime)
        if calls is None:  # Platform.unavailable refuses such a stream before it gets here
            raise RuntimeError(f"{name} call control is not configured")
        return RESTCallControl(name, calls, runtime.settings.transfer, start.dialed)

    return control
