"""Hold an observed call to its scenario: every expectation becomes a named check that passed or failed.

What the bot said is judged on its audio as the caller received it. What it
recognised, how the call ended and what the agent's screen pop held come from
the server's call record. A bot prompt heard at the caller's end is paired with
the bot turn in the record that it sounds like (in order), and the intent for
a turn is the one the server recorded just before that bot turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faster_whisper import WhisperModel
from rapidfuzz import fuzz

from voicebot.scenarios.hearing import matches, normalise, says, transcribe_8k
from voicebot.scenarios.model import Call, Expect, Turn
from voicebot.scenarios.play import CallObservation, TurnObservation

_MISSING = object()


@dataclass(frozen=True, slots=True)
class Check:
    what: str
    passed: bool
    detail: str = ""


@dataclass
class TurnReport:
    number: int
    turn: Turn
    heard: str | None = None  # the bot's reply, transcribed from its audio
    meant: str | None = None  # the bot's reply as the server recorded it
    caller_heard: str | None = None  # what the server heard the caller say
    intent: str | None = None
    branch: str | None = None
    latency_ms: float | None = None
    checks: list[Check] = field(default_factory=list)


@dataclass
class CallReport:
    scenario: str
    call: Call
    call_id: str
    turns: list[TurnReport]
    checks: list[Check]
    duration_secs: float
    record: dict[str, Any] | None
    skipped: str | None = None

    @property
    def all_checks(self) -> list[Check]:
        return [c for t in self.turns for c in t.checks] + self.checks

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.all_checks if not c.passed]

    @property
    def passed(self) -> bool:
        return self.skipped is None and not self.failures


def skipped(scenario: str, call: Call, reason: str) -> CallReport:
    return CallReport(scenario, call, "", [], [], 0.0, None, skipped=reason)


def evaluate(scenario: str, observation: CallObservation, whisper: WhisperModel) -> CallReport:
    """Transcribe the replies the caller heard and check every expectation (blocking: run it off the loop)."""
    record = observation.record
    call_checks: list[Check] = []
    if observation.problem:
        call_checks.append(Check("call played as written", False, observation.problem))
    turns = []
    server_turns = _server_turns(record)
    next_bot = 0
    for number, obs in enumerate(observation.turns, start=1):
        report = TurnReport(number, obs.turn, latency_ms=obs.latency_ms)
        if obs.reply is not None:
            report.heard = transcribe_8k(whisper, obs.reply.pcm)
            match = _pair(report.heard, server_turns, next_bot)
            if match is not None:
                next_bot = match + 1
                context = server_turns[match]
                report.meant = context.bot_text
                report.caller_heard = context.caller_text
                report.intent = context.intent
                report.branch = context.branch
        report.checks = _turn_checks(obs, report)
        turns.append(report)
    if record is None:
        call_checks.append(Check("call record", False, f"the server has no record of call {observation.call_id}"))
    else:
        call_checks += _call_checks(observation.call.expect, record)
    return CallReport(
        scenario, observation.call, observation.call_id, turns, call_checks, observation.duration_secs, record
    )


@dataclass
class _ServerTurn:
    """One bot turn in the call record, with what led to it."""

    bot_text: str
    caller_text: str | None
    intent: str | None
    branch: str | None
    interrupted: bool = False  # stopped by the caller (a barge-in, or an answer taken back)


def _server_turns(record: dict[str, Any] | None) -> list[_ServerTurn]:
    if record is None:
        return []
    turns: list[_ServerTurn] = []
    caller: list[str] = []
    intents = sorted(record.get("intents", []), key=lambda i: i["at"])
    previous_at = ""
    for turn in record.get("turns", []):
        if turn["role"] == "caller":
            caller.append(turn["text"])
            continue
        led_to = [i for i in intents if previous_at < i["at"] <= turn["started_at"]]
        intent = branch = None
        if led_to:
            intent = led_to[-1]["intent"] or "not understood"
            branch = led_to[-1].get("branch")
        turns.append(_ServerTurn(turn["text"], " ".join(caller) or None, intent, branch, bool(turn.get("interrupted"))))
        caller = []
        previous_at = turn["started_at"]
    return turns


def _pair(heard: str, server_turns: list[_ServerTurn], start: int, look_ahead: int = 3) -> int | None:
    """The record's bot turn this prompt sounds like, among the next few not yet paired."""
    candidates = range(start, min(start + look_ahead, len(server_turns)))
    if not candidates:
        return None
    if not heard:
        return start
    # The same words said twice (an answer taken back, then given whole): the one not cut short was heard.
    return max(
        candidates,
        key=lambda j: (
            fuzz.token_set_ratio(normalise(heard), normalise(server_turns[j].bot_text)),
            not server_turns[j].interrupted,
            -j,
        ),
    )


def _turn_checks(obs: TurnObservation, report: TurnReport) -> list[Check]:
    turn = obs.turn
    where = f"turn {report.number} ({turn.describe()})"
    checks: list[Check] = []
    if obs.problem:
        checks.append(Check(f"{where}: bot replied", False, obs.problem))
        return checks
    heard = report.heard or ""
    for phrase in turn.bot_says:
        checks.append(Check(f'{where}: bot says "{phrase}"', says(heard, phrase), f'heard "{heard}"'))
    meant = report.meant or ""
    for phrase in turn.bot_said:
        in_words = f" {normalise(phrase)} " in f" {normalise(meant)} "
        checks.append(Check(f'{where}: bot said "{phrase}"', in_words, f'recorded "{meant}"'))
    if turn.bot_matches:
        checks.append(
            Check(f"{where}: bot matches /{turn.bot_matches}/", matches(heard, turn.bot_matches), f'heard "{heard}"')
        )
    if turn.intent:
        caller = f' from "{report.caller_heard}"' if report.caller_heard else ""
        checks.append(
            Check(
                f"{where}: intent {turn.intent}",
                report.intent == turn.intent,
                f"recognised {report.intent or 'nothing'}{caller}",
            )
        )
    if turn.branch:
        checks.append(
            Check(
                f"{where}: dialogue {turn.branch}", report.branch == turn.branch, f"it did {report.branch or 'nothing'}"
            )
        )
    latency = report.latency_ms
    if turn.taken_back:
        checks.append(
            Check(f"{where}: bot stops when the caller goes on", obs.stopped_bot, "it kept talking or never began")
        )
    early = obs.early_ms
    if turn.action in ("say", "play") and early is not None and not turn.taken_back:
        took_back = " (and took it back)" if obs.withdrawn is not None else ""
        checks.append(
            Check(
                f"{where}: bot let the caller finish",
                False,
                f"it spoke {early:.0f} ms before the end of speech{took_back}",
            )
        )
    if turn.max_latency_ms is not None:
        ok = latency is not None and 0 <= latency <= turn.max_latency_ms
        measured = "not measured" if latency is None else f"{latency:.0f} ms"
        checks.append(Check(f"{where}: reply within {turn.max_latency_ms:g} ms", ok, measured))
    if turn.bot_stopped is not None:
        said = "stopped" if obs.stopped_bot else "kept talking"
        checks.append(
            Check(
                f"{where}: bot {'stops' if turn.bot_stopped else 'keeps talking'}",
                obs.stopped_bot == turn.bot_stopped,
                f"the bot {said}",
            )
        )
    return checks


def _call_checks(expect: Expect, record: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if expect.outcome is not None:
        checks.append(_equal("outcome", expect.outcome, record.get("outcome")))
    if expect.reason is not None:
        checks.append(_equal("reason", expect.reason, record.get("outcome_reason")))
    if expect.transfer is not None:
        checks.append(_equal("transferred to", expect.transfer, (record.get("transfer") or {}).get("target")))
    if expect.caller_turns is not None:
        said = [t for t in record.get("turns", []) if t.get("role") == "caller"]
        checks.append(_equal("caller turns", expect.caller_turns, len(said)))
    pops = [p["payload"] for p in record.get("screen_pops", [])]
    if expect.screen_pop is False:
        checks.append(Check("no screen pop", not pops, f"{len(pops)} sent"))
    elif expect.screen_pop:
        if not pops:
            checks.append(Check("screen pop sent", False, "no screen pop was sent"))
        else:
            for path, wanted in expect.screen_pop.items():
                checks.append(_equal(f"screen pop {path}", wanted, _dig(pops[-1], path)))
    return checks


def _equal(what: str, wanted: Any, actual: Any) -> Check:
    if actual is _MISSING:
        return Check(f"{what} = {wanted!r}", False, "no such field")
    same = actual == wanted or (isinstance(wanted, str) and not isinstance(actual, str) and str(actual) == wanted)
    return Check(f"{what} = {wanted!r}", same, f"was {actual!r}")


def _dig(data: Any, path: str) -> Any:
    for key in path.split("."):
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return _MISSING
    return data
