"""Frames voicebot adds to pipecat's: marks echoed by the phone side, hang-ups, prompts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pipecat.frames.frames import DataFrame, SystemFrame, TranscriptionFrame

from voicebot.dialogue import HandOverReason

if TYPE_CHECKING:
    from voicebot.pipeline.turns import Expectation, TurnTiming


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
class ClosingPromptFrame(DataFrame):
    """The next prompt is the call's last: a transfer or a goodbye follows it.

    Platforms whose hand-off travels with the prompt (Webex's terminal response)
    hold that prompt for it; the others let it pass.
    """


@dataclass
class CallerSilentFrame(SystemFrame):
    """The platform says the caller has been silent (Webex ``NO_INPUT``): re-prompt now, as our own timer would."""


@dataclass
class PrepareSpeechFrame(DataFrame):
    """Render the first sentence of each of ``texts`` now, so whichever is said next starts at once."""

    texts: list[str] = field(default_factory=list)


@dataclass
class ListeningFrame(SystemFrame):
    """Upstream to the turn taker, after each question: what the caller is now answering.

    ``hint`` is words the answer is likely to hold (the options, their name), for
    Whisper's prompt; ``expect`` tells whether a transcript answers the question.
    """

    hint: str = ""
    expect: Expectation | None = None


@dataclass
class TurnTranscriptionFrame(TranscriptionFrame):
    """A caller turn's transcript: the ``take``-th time turn ``turn`` ended (a resumed turn ends again).

    ``timing``: where the wait for its end went (a turn the stream's end cut short has none).
    """

    turn: int = 0
    take: int = 1
    timing: TurnTiming | None = None


@dataclass
class TurnResumedFrame(SystemFrame):
    """The caller went on right after ``take`` of ``turn`` ended: stop its reply; the next take is the whole turn."""

    turn: int = 0
    take: int = 1


@dataclass
class HandOverFrame(SystemFrame):
    """Hand the call to an agent for the server's own reason: ``max_duration`` or ``server_shutdown``."""

    reason: HandOverReason = "max_duration"
