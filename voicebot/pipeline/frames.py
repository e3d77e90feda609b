"""Frames voicebot adds to pipecat's: marks echoed by the phone side, hang-ups, prompts."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipecat.frames.frames import DataFrame, SystemFrame


@dataclass
class MarkEchoFrame(SystemFrame):
    """The phone side has played (or cleared) all audio sent before the mark ``mark``."""

    mark: str = ""


@dataclass
class CallerHungUpFrame(SystemFrame):
    """The phone side ended the stream (Twilio ``stop``, Genesys ``close``).

    ``reply`` is a protocol message to send before ending (Genesys wants ``closed``).
    """

    reason: str = "stop"
    reply: dict | None = None


@dataclass
class ProtocolViolationFrame(SystemFrame):
    """The phone side broke its protocol in a way that ends the call."""

    reason: str = ""


@dataclass
class SpeakFrame(DataFrame):
    """Say ``text``, then send the mark ``mark`` so we learn when the caller heard it."""

    text: str = ""
    mark: str = ""


@dataclass
class PrepareSpeechFrame(DataFrame):
    """Render the first sentence of each of ``texts`` now, so whichever is said next starts at once."""

    texts: list[str] = field(default_factory=list)


@dataclass
class HintFrame(SystemFrame):
    """Upstream to the recogniser: words the caller's next answer is likely to hold (the options, their name)."""

    text: str = ""


@dataclass
class HandOverFrame(SystemFrame):
    """Hand the call to an agent for the server's own reason: ``max_duration`` or ``server_shutdown``."""

    reason: str = "max_duration"
