"""The call flow: what the bot says and does at each step of a call.

This is the dialogue policy only. It knows nothing of audio, websockets or
frames: the pipeline feeds it what the caller said or pressed (or that they
said nothing) and carries out the :class:`Reply` it returns. It mirrors the
contact-center flow templates it replaces: look the caller up, greet them with
their latest case, offer an agent or goodbye, hand over with a screen pop.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from voicebot.config import DialogueSettings
from voicebot.intents import IntentMatch, IntentRouter, normalize
from voicebot.tools.crm.base import Case
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


Branch = Literal[
    "act",  # understood well enough to act on
    "confirm",  # middling confidence: asked "just to check"
    "confirmed",  # a yes to that check: acted on
    "declined",  # a no to that check: asked again, saying what the caller can say
    "answered",  # a bare yes or no resolved by the question just asked
    "out_of_scope",  # a request the bot cannot handle: told what it can do, offered an agent
    "not_understood",  # re-asked, saying what the caller can say
    "greeted",  # a "hello?" that checks the line: answered, the menu asked again
    "gave_up",  # not understood again: handed to an agent
]


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    next: Next = Next.LISTEN
    handoff: Handoff | None = None
    intent: IntentMatch | None = None
    branch: Branch | None = None

    @property
    def acts(self) -> bool:
        """The dialogue did what the caller asked (did not re-ask, check or refuse): the turn answered it."""
        return self.branch in ("act", "confirmed", "answered")


Asked = Literal["menu", "confirm", "offer_agent"]

MENU = "Would you like to speak to an agent, or are you all set?"
SORRY = "Sorry, I didn't get that."
HELLO = "Hello, I'm here."
AGENT = "Sure."
OPTIONS = "You can say agent, or all set. You can also ask for the status of your case, or say repeat to hear it again."
KEYPAD = "You can also press 1 for an agent, 2 if you are all set, or 9 to hear your case again."
CANNOT = (
    "I'm sorry, I can't help with that on this line. I can tell you where your case stands, read it again, "
    "or connect you to an agent who can help. Would you like an agent?"
)
# What "just to check" asks, per intent; a table intent without one is checked by its description.
CHECKS = {
    "agent": "you'd like to speak to an agent",
    "goodbye": "you're all set",
    "repeat": "you'd like to hear your case again",
    "status": "you'd like to know where your case stands",
    "new_problem": "you're calling about a new problem",
}
_YES = frozenset(
    "yes|yeah|yep|yup|yea|ya|sure|correct|right|exactly|absolutely|definitely|ok|okay|please|uh huh|"
    "mm hmm|yes please|yeah please|that is right|that is correct|of course|go ahead|sure thing|why not|"
    "i would|i do|it is|you got it|please do".split("|")
)
_NO = frozenset(
    "no|nope|nah|no thanks|no thank you|not really|not at all|wrong|that is wrong|no it is not|i do not|"
    "not now|no no|negative|no way|i would not".split("|")
)
GREETED = f"{HELLO} {MENU}"
NOT_UNDERSTOOD = f"{SORRY} {OPTIONS} {KEYPAD}"
DECLINED = f"Okay. {OPTIONS} {MENU}"
NO_PROBLEM = f"No problem. {MENU}"
STILL_THERE = f"Are you still there? {MENU} {KEYPAD}"
NO_CASE = f"I don't have an open case for you. {MENU}"
GOODBYE = "Goodbye."
NO_RESPONSE = "I haven't heard from you, so I'm connecting you to an agent. One moment please."
GAVE_UP = "Sorry, I'm having trouble understanding. Let me connect you to an agent."
TO_AGENT = f"{AGENT} I'm connecting you to an agent now. Please stay on the line."
TO_NEW_CASE = "Okay. I'll connect you to an agent who can open a new case for that. One moment please."
TO_HELP = "Let me connect you to an agent who can help with that."
CRM_DOWN = (
    "Thanks for calling. I'm sorry, our customer records are not responding right now, "
    "so I'm connecting you to an agent. One moment please."
)
UNKNOWN_CALLER = (
    "Thanks for calling. I couldn't find a case for your number, "
    "so I'm transferring you to an agent who can help. One moment please."
)


def check_question(check: str) -> str:
    return f"Just to check: {check}?"


# "Hello?" checks that someone is there; it is not a request to refuse.
_GREETINGS = frozenset("hello|hello hello|hi|hey|hiya|hi there|hello there|good morning|good afternoon".split("|"))
_WEAK_YES = {"ok", "okay", "please"}  # to "agent, or all set?" these say neither
_POLITE = {"thanks", "thank", "you", "sir", "madam", "mate", "love", "then", "cheers"}
_MURMURED_YES = re.compile(r"\W*(uh-?huh|mm-?hmm|mhm)\W*")


def yes_or_no(text: str) -> bool | None:
    """A bare yes or no (with politeness around it); None for anything that says more."""
    if _MURMURED_YES.fullmatch(text.strip().lower()):
        return True  # "uh-huh" before the filler "uh" is dropped and leaves "huh", which asks for a repeat
    words = [w for w in normalize(text).split() if w not in _POLITE]
    phrase = " ".join(words)
    if phrase in _YES or (words and all(w in _YES for w in words)):
        return True
    if phrase in _NO or (words and all(w in _NO for w in words)):
        return False
    return None


HandOverReason = Literal["max_duration", "server_shutdown"]
HAND_OVER: dict[HandOverReason, str] = {
    "max_duration": "I'm sorry, this call has gone on for a long time, so I'm connecting you to an agent now. "
    "One moment please.",
    "server_shutdown": "I'm sorry, I have to hand you over to an agent now. One moment please.",
}


# What the dialogue says to any caller, whoever they are: the server renders these once at start-up.
FIXED_PROMPTS = (
    MENU, GREETED, NOT_UNDERSTOOD, DECLINED, NO_PROBLEM, STILL_THERE, NO_CASE, CANNOT, f"Thanks for calling. {GOODBYE}",
    NO_RESPONSE, GAVE_UP, TO_AGENT, TO_NEW_CASE, TO_HELP, CRM_DOWN, UNKNOWN_CALLER, *HAND_OVER.values(),
    *(check_question(check) for check in CHECKS.values()),
)  # fmt: skip


def case_sentence(case: Case) -> str:
    """The number ends its own sentence: run on into the title, its last digit was heard as "for"."""
    title = case.title.strip().rstrip(".!?;:,")
    return f"Your latest {case.kind} is {case.number}. {title}. Its status is {case.status}."


@dataclass(frozen=True)
class FlowState:
    """What one answer can change: kept so an answer the caller had not finished can be taken back."""

    misses: int
    silences: int
    finished: bool
    asked: Asked
    checking: IntentMatch | None
    case: Case | None


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
        self.asked: Asked = "menu"  # what the last prompt asked, for a bare yes or no
        self._checking: IntentMatch | None = None  # the guess a "just to check" asked about

    @property
    def _first_name(self) -> str:
        return self.context.customer.first_name if self.context.customer else ""

    def greeting(self) -> Reply:
        ctx = self.context
        if ctx.crm_status == "unavailable":
            return self._transfer(
                CRM_DOWN,
                "crm_unavailable",
                "new_case_form",
            )
        if ctx.customer is None:
            return self._transfer(
                UNKNOWN_CALLER,
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

    def snapshot(self) -> FlowState:
        return FlowState(self.misses, self.silences, self.finished, self.asked, self._checking, self.case)

    def restore(self, state: FlowState) -> None:
        self.misses, self.silences, self.finished = state.misses, state.silences, state.finished
        self.asked, self._checking, self.case = state.asked, state.checking, state.case

    async def preview(self, text: str) -> Reply:
        """The reply ``text`` would get, with nothing changed and the CRM not asked: for a turn not yet over."""
        state = self.snapshot()
        try:
            return await self.on_speech(text, refresh=False)
        finally:
            self.restore(state)

    async def on_speech(self, text: str, refresh: bool = True) -> Reply:
        match = await self.router.understand(text)
        answer = yes_or_no(text)
        asked, checking = self._listen_again()
        if answer is None or (asked == "menu" and normalize(text) in _WEAK_YES):
            return await self._on_intent(match, refresh)
        self.silences = 0
        if asked == "confirm" and checking is not None:
            if answer:
                return await self._act(resolved(checking, checking.best, match), "confirmed", refresh)
            return self._miss(match, DECLINED, "declined")
        if answer:
            return await self._act(resolved(match, "agent", match), "answered", refresh)
        if asked == "offer_agent":
            self.misses = 0
            return Reply(NO_PROBLEM, intent=resolved(match, None, match), branch="answered")
        return await self._act(resolved(match, "goodbye", match), "answered", refresh)

    async def on_dtmf(self, digit: str) -> Reply:
        self._listen_again()
        return await self._on_intent(self.router.route_dtmf(digit))

    def on_silence(self) -> Reply:
        self.silences += 1
        if self.silences > self.settings.max_silent_prompts:
            return self._transfer(
                NO_RESPONSE,
                "no_response",
                self._default_action,
            )
        return Reply(STILL_THERE)

    def on_hand_over(self, reason: HandOverReason) -> Reply:
        """The server lets go of the call for its own reason: the caller goes to an agent, told why."""
        return self._transfer(HAND_OVER[reason], reason, self._default_action)

    def _listen_again(self) -> tuple[Asked, IntentMatch | None]:
        """What the last prompt asked; the next prompt asks afresh."""
        asked, checking = self.asked, self._checking
        self.asked, self._checking = "menu", None
        return asked, checking

    async def _on_intent(self, match: IntentMatch, refresh: bool = True) -> Reply:
        self.silences = 0
        if match.understood:
            return await self._act(match, "act", refresh)
        if match.source == "speech" and normalize(match.heard) in _GREETINGS:
            return Reply(GREETED, intent=match, branch="greeted")
        if match.out_of_scope:
            reply = self._miss(match, CANNOT, "out_of_scope")
            if reply.next is Next.LISTEN:
                self.asked = "offer_agent"
            return reply
        if match.best and match.source == "speech" and match.confidence >= self.settings.confirm_threshold:
            self.asked, self._checking = "confirm", match
            return Reply(check_question(self._check(match.best)), intent=match, branch="confirm")
        return self._miss(match, NOT_UNDERSTOOD, "not_understood")

    def _miss(self, match: IntentMatch, text: str, branch: Branch) -> Reply:
        """Re-ask, saying what the caller can say; the second miss in a row goes to an agent."""
        self.misses += 1
        if self.misses >= self.settings.max_misunderstandings:
            return self._transfer(
                GAVE_UP,
                "not_understood",
                self._default_action,
                match,
                "gave_up",
            )
        return Reply(text, intent=match, branch=branch)

    def _check(self, intent: str) -> str:
        if intent in CHECKS:
            return CHECKS[intent]
        description = next((i.description for i in self.router.intents if i.name == intent), "") or intent
        return f"you mean: {description.rstrip('.').lower()}"

    async def _act(self, match: IntentMatch, branch: Branch, refresh: bool = True) -> Reply:
        self.misses = 0
        match match.intent:
            case "agent":
                return self._transfer(
                    TO_AGENT,
                    "caller_requested_agent",
                    self._default_action,
                    match,
                    branch,
                )
            case "goodbye":
                self.finished = True
                return Reply(self._goodbye_text(), Next.HANG_UP, intent=match, branch=branch)
            case "repeat":
                return Reply(self._repeat_text(), intent=match, branch=branch)
            case "status":
                if refresh and self._refresh_case is not None:
                    self.case = await self._refresh_case() or self.case
                return Reply(self._status_text(), intent=match, branch=branch)
            case "new_problem":
                return self._transfer(
                    TO_NEW_CASE,
                    "new_problem",
                    "new_case_form",
                    match,
                    branch,
                )
        # An intent added in the table without a policy here: an agent handles it.
        return self._transfer(
            TO_HELP,
            f"intent:{match.intent}",
            self._default_action,
            match,
            branch,
        )

    def hint(self) -> str:
        """Words the next answer is likely to hold, for the recogniser's prompt: the caller's name, the case
        number, the options just offered. Measured to help more than it invents (docs/benchmarks.md)."""
        options = "Agent, or all set? Status, repeat." if self.asked == "menu" else "Yes. No. Agent."
        known = [f"{self._first_name}." if self._first_name else "", f"Case {self.case.number}." if self.case else ""]
        return " ".join([*filter(None, known), options])

    def likely_replies(self) -> list[str]:
        """What the bot would say next to the usual answers, as things stand: worth rendering ahead of time."""
        if self.finished:
            return []
        return [self._status_text(), self._repeat_text(), self._goodbye_text(), AGENT, SORRY, OPTIONS, CANNOT, HELLO]

    def _goodbye_text(self) -> str:
        name = f", {self._first_name}" if self._first_name else ""
        return f"Thanks for calling{name}. {GOODBYE}"

    def _repeat_text(self) -> str:
        if self.case is None:
            return NO_CASE
        return f"{case_sentence(self.case)} {MENU}"

    def _status_text(self) -> str:
        if self.case is None:
            return NO_CASE
        case = self.case
        updated = case.updated_at.strftime("%B %-d")
        return f"{case.kind.capitalize()} {case.number} is {case.status}. It was last updated on {updated}. {MENU}"

    @property
    def _default_action(self) -> PopAction:
        return "open_case" if self.case is not None else "new_case_form"

    def _transfer(
        self,
        text: str,
        reason: str,
        action: PopAction,
        match: IntentMatch | None = None,
        branch: Branch | None = None,
    ) -> Reply:
        self.finished = True
        return Reply(text, Next.TRANSFER, Handoff(reason, action), match, branch)


def resolved(match: IntentMatch, intent: str | None, answer: IntentMatch) -> IntentMatch:
    """What a yes or no meant, given the question: the intent it settles, heard as the answer was."""
    return replace(match, intent=intent, heard=answer.heard, source=answer.source)
