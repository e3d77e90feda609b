"""The call flow: what the bot says and does at each step of a call.

This is the dialogue policy only. It knows nothing of audio, websockets or
frames: the pipeline feeds it what the caller said or pressed (or that they
said nothing) and carries out the :class:`Reply` it returns. It mirrors the
contact-center flow templates it replaces: look the caller up, greet them with
their latest case, offer an agent or goodbye, hand over with a screen pop.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from voicebot.config import DialogueSettings
from voicebot.intents import IntentMatch, IntentRouter
from voicebot.tools.crm import Case
from voicebot.tools.lookup import CallerContext


class Next(StrEnum):
    LISTEN = "listen"
    TRANSFER = "transfer"
    HANG_UP = "hang_up"


PopAction = Literal["open_case", "new_case_form"]


@dataclass(frozen=True, slots=True)
class Handoff:
    """Why the caller goes to an agent and what the agent's desktop should open."""

    reason: str
    action: PopAction


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    next: Next = Next.LISTEN
    handoff: Handoff | None = None
    intent: IntentMatch | None = None


MENU = "Would you like to speak to an agent, or are you all set?"
SORRY = "Sorry, I didn't get that."
AGENT = "Sure."
KEYPAD = "You can also press 1 for an agent, 2 if you are all set, or 9 to hear your case again."


HandOverReason = Literal["max_duration", "server_shutdown"]
HAND_OVER: dict[HandOverReason, str] = {
    "max_duration": "I'm sorry, this call has gone on for a long time, so I'm connecting you to an agent now. "
    "One moment please.",
    "server_shutdown": "I'm sorry, I have to hand you over to an agent now. One moment please.",
}


def case_sentence(case: Case) -> str:
    """The number ends its own sentence: run on into the title, its last digit was heard as "for"."""
    title = case.title.strip().rstrip(".!?;:,")
    return f"Your latest {case.kind} is {case.number}. {title}. Its status is {case.status}."


class CallFlow:
    """One call's dialogue state. Not thread-safe; one per call."""

    def __init__(
        self,
        context: CallerContext,
        router: IntentRouter,
        settings: DialogueSettings,
        refresh_case: Callable[[], Awaitable[Case | None]] | None = None,
    ):
        self.context = context
        self.router = router
        self.settings = settings
        self._refresh_case = refresh_case
        self.case = context.case
        self.misses = 0
        self.silences = 0
        self.finished = False

    @property
    def _first_name(self) -> str:
        return self.context.customer.first_name if self.context.customer else ""

    def greeting(self) -> Reply:
        ctx = self.context
        if ctx.crm_status == "unavailable":
            return self._transfer(
                "Thanks for calling. I'm sorry, our customer records are not responding right now, "
                "so I'm connecting you to an agent. One moment please.",
                "crm_unavailable",
                "new_case_form",
            )
        if ctx.customer is None:
            return self._transfer(
                "Thanks for calling. I couldn't find a case for your number, "
                "so I'm transferring you to an agent who can help. One moment please.",
                "unknown_caller",
                "new_case_form",
            )
        if self.case is None:
            return self._transfer(
                f"Hi {self._first_name}. I couldn't find an open case for your number, "
                "so I'm transferring you to an agent. One moment please.",
                "no_open_case",
                "new_case_form",
            )
        return Reply(f"Hi {self._first_name}, thanks for calling. {case_sentence(self.case)} {MENU}")

    async def on_speech(self, text: str) -> Reply:
        return await self._on_intent(self.router.route(text))

    async def on_dtmf(self, digit: str) -> Reply:
        return await self._on_intent(self.router.route_dtmf(digit))

    def on_silence(self) -> Reply:
        self.silences += 1
        if self.silences > self.settings.max_silent_prompts:
            return self._transfer(
                "I haven't heard from you, so I'm connecting you to an agent. One moment please.",
                "no_response",
                self._default_action,
            )
        return Reply(f"Are you still there? {MENU} {KEYPAD}")

    def on_hand_over(self, reason: HandOverReason) -> Reply:
        """The server lets go of the call for its own reason: the caller goes to an agent, told why."""
        return self._transfer(HAND_OVER[reason], reason, self._default_action)

    async def _on_intent(self, match: IntentMatch) -> Reply:
        self.silences = 0
        if not match.understood:
            self.misses += 1
            if self.misses >= self.settings.max_misunderstandings:
                return self._transfer(
                    "Sorry, I'm having trouble understanding. Let me connect you to an agent.",
                    "not_understood",
                    self._default_action,
                    match,
                )
            return Reply(f"{SORRY} {MENU} {KEYPAD}", intent=match)
        self.misses = 0
        match match.intent:
            case "agent":
                return self._transfer(
                    f"{AGENT} I'm connecting you to an agent now. Please stay on the line.",
                    "caller_requested_agent",
                    self._default_action,
                    match,
                )
            case "goodbye":
                self.finished = True
                return Reply(self._goodbye_text(), Next.HANG_UP, intent=match)
            case "repeat":
                return Reply(self._repeat_text(), intent=match)
            case "status":
                if self._refresh_case is not None:
                    self.case = await self._refresh_case() or self.case
                return Reply(self._status_text(), intent=match)
            case "new_problem":
                return self._transfer(
                    "Okay. I'll connect you to an agent who can open a new case for that. One moment please.",
                    "new_problem",
                    "new_case_form",
                    match,
                )
        # An intent added in the table without a policy here: an agent handles it.
        return self._transfer(
            "Let me connect you to an agent who can help with that.",
            f"intent:{match.intent}",
            self._default_action,
            match,
        )

    def likely_replies(self) -> list[str]:
        """What the bot would say next to the usual answers, as things stand: worth rendering ahead of time."""
        if self.finished:
            return []
        return [self._status_text(), self._repeat_text(), self._goodbye_text(), AGENT, SORRY]

    def _goodbye_text(self) -> str:
        name = f", {self._first_name}" if self._first_name else ""
        return f"Thanks for calling{name}. Goodbye."

    def _repeat_text(self) -> str:
        if self.case is None:
            return f"I don't have an open case for you. {MENU}"
        return f"{case_sentence(self.case)} {MENU}"

    def _status_text(self) -> str:
        if self.case is None:
            return f"I don't have an open case for you. {MENU}"
        case = self.case
        updated = case.updated_at.strftime("%B %-d")
        return f"{case.kind.capitalize()} {case.number} is {case.status}. It was last updated on {updated}. {MENU}"

    @property
    def _default_action(self) -> PopAction:
        return "open_case" if self.case is not None else "new_case_form"

    def _transfer(self, text: str, reason: str, action: PopAction, match: IntentMatch | None = None) -> Reply:
        self.finished = True
        return Reply(text, Next.TRANSFER, Handoff(reason, action), match)
