"""What the JSON media streams (Twilio, Telnyx, Plivo, Exotel, Vonage) have in common.

Each platform opens a websocket, says who is calling in its first messages, then
streams audio. :func:`read_start` reads up to that point with the platform's own
parser; :class:`GuardedStream` wraps pipecat's serializers so that a malformed
message is skipped with a logged reason instead of ending the call, a mark echo
becomes a :class:`MarkEchoFrame` and the platform's "stop" a hang-up.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import json
import logging
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from fastapi import WebSocket
from pipecat.frames.frames import Frame, OutputTransportMessageFrame, OutputTransportMessageUrgentFrame
from pipecat.serializers.base_serializer import FrameSerializer
from starlette.websockets import WebSocketDisconnect

from voicebot.pipeline.frames import CallerHungUpFrame, MarkEchoFrame

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_SECS = 10.0
# Marks for platforms without a mark echo: they stay inside the process (see PlaybackMarks).
LOCAL_MARK_KEY = "voicebot_mark"


class CallSerializer(FrameSerializer):
    """A platform's serializer: pipecat's, and a way to ask the phone side to echo a mark once it has played."""

    @abstractmethod
    def mark_message(self, name: str) -> dict[str, Any]: ...


class ProtocolError(Exception):
    """The peer broke its media-stream protocol in a way that ends the call."""


@dataclass(frozen=True, slots=True)
class StreamStart:
    """Who is calling and which stream this is, from the platform's start message."""

    call_id: str
    stream_id: str
    caller: str
    dialed: str
    encoding: str = "PCMU"
    sample_rate: int = 8000
    parameters: dict[str, str] = field(default_factory=dict)


StartParser = Callable[[dict[str, Any]], "StreamStart | None"]

P = ParamSpec("P")
R = TypeVar("R")


def refuses_malformed(parse: Callable[P, R]) -> Callable[P, R]:
    """A start parser's contract: it parses, or raises :class:`ProtocolError` saying what was wrong.

    A field of the wrong type deep in a peer's message surfaces as a KeyError,
    TypeError or ValueError wherever it is read; this turns each into the one
    refusal the stream handler expects.
    """

    @functools.wraps(parse)
    def parsing(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return parse(*args, **kwargs)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProtocolError(f"malformed start message ({type(exc).__name__}: {exc})") from None

    return parsing


async def read_start(websocket: WebSocket, parse: StartParser, timeout: float = HANDSHAKE_TIMEOUT_SECS) -> StreamStart:
    """Read text messages until ``parse`` finds the start (it returns None for ones to pass over)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await websocket.receive()
            if message.get("type") == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000), "before the stream started")
            text = message.get("text")
            if text is None:
                raise ProtocolError("binary frame before the stream started")
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ProtocolError(f"invalid JSON before start ({exc.msg})") from None
            if not isinstance(data, dict):
                raise ProtocolError("message before start is not a JSON object")
            start = parse(data)
            if start is not None:
                return start


# A peer may hang up between its last message and our answer: uvicorn has then answered
# its close itself and refuses anything more from us with a RuntimeError.
PEER_GONE = (RuntimeError, WebSocketDisconnect)


async def send_unless_gone(websocket: WebSocket, text: str) -> bool:
    """Send ``text`` on a stream not yet running; False if the peer has already closed it."""
    try:
        await websocket.send_text(text)
    except PEER_GONE:
        return False
    return True


async def close_stream(websocket: WebSocket, code: int, reason: str = "") -> None:
    """Close our side of a refused stream, unless the peer has already closed it."""
    try:
        await websocket.close(code, reason)
    except PEER_GONE:
        log.debug("peer closed the stream before our close (%d %s)", code, reason)


def start_object(message: dict[str, Any], passed_over: tuple[str, ...] = ("connected",)) -> dict[str, Any] | None:
    """The ``start`` event's object; None for a message that may come before it (``connected``)."""
    event = message.get("event")
    if event in passed_over:
        return None
    if event != "start":
        raise ProtocolError(f"expected 'start', got {event!r}")
    start = message.get("start")
    if not isinstance(start, dict):
        raise ProtocolError("start event without a 'start' object")
    return start


def media_format(start: dict[str, Any], key: str) -> tuple[dict[str, Any], int]:
    """A start's media format object (absent means the platform's default) and its sample rate (default 8000)."""
    value = start.get(key) or {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{key} is not an object")
    rate = value.get("sampleRate", value.get("sample_rate", 8000))
    try:
        return value, int(rate)  # type: ignore[arg-type]  # whatever the peer sent; refused below if not a number
    except (TypeError, ValueError, OverflowError):
        raise ProtocolError(f"unsupported sample rate {rate!r}") from None


def text_params(value: Any, what: str) -> dict[str, str]:
    """A platform's custom parameters as strings (absent means none)."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not an object")
    return {str(k): str(v) for k, v in value.items()}


def required(mapping: dict[str, Any], key: str, what: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise ProtocolError(f"{what} without {key}")
    return value


class SkipsBadMessages:
    """Counts and logs skipped messages: the first few, then every hundredth (a flood must not flood the log)."""

    stream_label = "stream"
    skipped = 0

    def _skip(self, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= 5 or self.skipped % 100 == 0:
            log.warning("%s: skipped message #%d: %s", self.stream_label, self.skipped, reason)
        return None

    def _json_object(self, text: str) -> dict[str, Any] | None:
        """The message as a JSON object, or None (counted and logged as skipped)."""
        try:
            message = json.loads(text)
        except json.JSONDecodeError as exc:
            self._skip(f"invalid JSON ({exc.msg})")
            return None
        if not isinstance(message, dict):
            self._skip("message is not a JSON object")
            return None
        return message


class GuardedStream(SkipsBadMessages):
    """Mixin in front of a pipecat JSON serializer: skip what is malformed, understand marks and stop.

    Subclasses name their platform's events and build its outgoing mark
    (``mark_message``); everything else is the wrapped serializer's business
    (audio, DTMF, ``clear``).
    """

    mark_echo_event: str | None = "mark"
    stop_events: tuple[str, ...] = ("stop",)
    ignored_events: tuple[str, ...] = ()
    reported_events: tuple[str, ...] = ()  # the platform telling us something went wrong: logged, call goes on
    inbound_tracks: tuple[str, ...] = ("inbound", "inbound_track")

    def mark_echo_name(self, message: dict[str, Any]) -> Any:
        mark = message.get("mark")
        return mark.get("name") if isinstance(mark, dict) else None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            self._skip("binary frame where this protocol sends text")
            return None
        message = self._json_object(data)
        if message is None:
            return None
        event = message.get("event")
        if event in self.ignored_events:
            return None
        if event in self.reported_events:
            log.warning("%s: the platform reported %s: %s", self.stream_label, event, str(message)[:300])
            return None
        if event == self.mark_echo_event:
            name = self.mark_echo_name(message)
            if not isinstance(name, (str, int)) or isinstance(name, bool) or name == "":
                self._skip(f"{event} without a name")
                return None
            return MarkEchoFrame(mark=str(name))
        if event in self.stop_events:
            return CallerHungUpFrame(reason=str(event))
        if event == "media":
            media = message.get("media")
            if not isinstance(media, dict) or not isinstance(media.get("payload"), str):
                self._skip("media without a payload")
                return None
            if media.get("track", self.inbound_tracks[0]) not in self.inbound_tracks:
                return None
        elif event == "dtmf" and not isinstance(message.get("dtmf"), dict):
            self._skip("dtmf without a digit")
            return None
        try:
            return await super().deserialize(data)  # type: ignore[misc]
        except (binascii.Error, ValueError, TypeError) as exc:
            self._skip(f"undecodable {event} ({exc})")
            return None


def is_local_mark(frame: Frame) -> bool:
    """A mark meant for :class:`PlaybackMarks`, which must not go on the wire."""
    return (
        isinstance(frame, (OutputTransportMessageFrame, OutputTransportMessageUrgentFrame))
        and isinstance(frame.message, dict)
        and LOCAL_MARK_KEY in frame.message
    )
