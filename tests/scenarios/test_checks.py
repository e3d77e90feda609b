"""Judging an observed call: expectations on the bot's real audio and on the server's call record."""

from __future__ import annotations

import pytest

from voicebot.caller import BotUtterance
from voicebot.pipeline.tts import Voice, default_voice_path
from voicebot.scenarios.checks import evaluate
from voicebot.scenarios.model import Call, Expect, Turn
from voicebot.scenarios.play import CallObservation, TurnObservation

GREETING = "Hi Jane, thanks for calling. Your latest case is CAS-01234. Would you like to speak to an agent?"
TRANSFER = "Sure. I'm connecting you to an agent now. Please stay on the line."


@pytest.fixture(scope="module")
def bot_audio() -> dict[str, bytes]:
    bot = Voice(default_voice_path(), sample_rate=8000)
    return {text: bot.synthesize(text) for text in (GREETING, TRANSFER)}


def record(outcome="transferred", pop=None) -> dict:
    """A call record as the server's /api/calls/{id} returns it."""
    return {
        "outcome": outcome,
        "outcome_reason": "caller_requested_agent",
        "transfer": {"mode": "enqueue", "target": "support"},
        "turns": [
            {"role": "bot", "text": GREETING, "started_at": "2026-11-21T10:00:00.100+00:00"},
            {"role": "caller", "text": "A person, please.", "started_at": "2026-11-21T10:00:09.000+00:00"},
            {"role": "bot", "text": TRANSFER, "started_at": "2026-11-21T10:00:10.500+00:00"},
        ],
        "intents": [{"at": "2026-11-21T10:00:10.480+00:00", "intent": "agent", "source": "speech"}],
        "screen_pops": [{"payload": pop or {"customer": {"name": "Jane Doe"}, "case": {"number": "CAS-01234"}}}],
    }


def observe(call: Call, bot_audio, latency_secs: float = 0.9, rec=None) -> CallObservation:
    greeting = BotUtterance(pcm=bytearray(bot_audio[GREETING]), first_audio_at=100.3, mark="utt-1")
    transfer = BotUtterance(pcm=bytearray(bot_audio[TRANSFER]), first_audio_at=110.0 + latency_secs, mark="utt-2")
    return CallObservation(
        call,
        call_id="CA1",
        turns=[
            TurnObservation(call.turns[0], began_at=100.0, timed_from=100.0, reply=greeting, reply_index=0),
            TurnObservation(call.turns[1], began_at=108.0, timed_from=110.0, reply=transfer, reply_index=1),
        ],
        record=record() if rec is None else rec,
        duration_secs=12.0,
    )


def test_a_call_that_went_as_written_meets_every_expectation(whisper, bot_audio):
    call = Call(
        name="agent",
        turns=[
            Turn(bot_says=["Hi Jane", "01234"], bot_said="Hi Jane", max_latency_ms=500),
            Turn(say="A person, please.", intent="agent", bot_says=["connecting you to an agent"], max_latency_ms=1500),
        ],
        expect=Expect(
            outcome="transferred",
            transfer="support",
            screen_pop={"customer.name": "Jane Doe", "case.number": "CAS-01234"},
        ),
    )
    report = evaluate("demo", observe(call, bot_audio), whisper)
    assert report.passed, report.failures
    assert len(report.all_checks) == 11
    greeting, answer = report.turns
    assert greeting.latency_ms == pytest.approx(300)
    assert answer.intent == "agent" and answer.caller_heard == "A person, please." and answer.meant == TRANSFER
    assert "connecting you to an agent" in answer.heard.lower()


def test_each_unmet_expectation_fails_with_what_actually_happened(whisper, bot_audio):
    call = Call(
        name="agent",
        turns=[
            Turn(bot_matches=r"goodbye"),
            Turn(
                say="A person, please.",
                intent="goodbye",
                bot_says=["your case is closed"],
                bot_said=["Hi Carlos"],
                max_latency_ms=500,
            ),
        ],
        expect=Expect(outcome="completed", transfer="billing", screen_pop={"customer.email": "jane@example.com"}),
    )
    report = evaluate("demo", observe(call, bot_audio, latency_secs=0.9), whisper)
    failed = {c.what.split(": ", 1)[-1]: c.detail for c in report.failures}
    assert set(failed) == {
        "bot matches /goodbye/",
        'bot says "your case is closed"',
        'bot said "Hi Carlos"',
        "intent goodbye",
        "reply within 500 ms",
        "outcome = 'completed'",
        "transferred to = 'billing'",
        "screen pop customer.email = 'jane@example.com'",
    }
    assert failed['bot said "Hi Carlos"'] == f'recorded "{TRANSFER}"'
    assert failed["intent goodbye"] == 'recognised agent from "A person, please."'
    assert failed["reply within 500 ms"] == "900 ms"
    assert failed["outcome = 'completed'"] == "was 'transferred'"
    assert failed["screen pop customer.email = 'jane@example.com'"] == "no such field"
    assert not report.passed


def test_a_bot_that_talks_over_the_caller_fails_even_without_a_latency_limit(whisper, bot_audio):
    call = Call(name="c", turns=[Turn(), Turn(say="A person, please.")])
    report = evaluate("demo", observe(call, bot_audio, latency_secs=-0.4), whisper)
    [failure] = report.failures
    assert (
        failure.what.endswith("bot let the caller finish")
        and failure.detail == "it spoke 400 ms before the end of speech"
    )


def test_a_bot_that_began_early_fails_even_when_it_took_it_back(whisper, bot_audio):
    call = Call(name="c", turns=[Turn(), Turn(say="A person, please.")])
    observation = observe(call, bot_audio)
    observation.turns[1].withdrawn = BotUtterance(first_audio_at=109.75, mark="utt-x", cleared=True)
    [failure] = evaluate("demo", observation, whisper).failures
    assert failure.what.endswith("bot let the caller finish")
    assert failure.detail == "it spoke 250 ms before the end of speech (and took it back)"


def test_a_turn_without_a_reply_and_a_call_without_a_record_fail(whisper, bot_audio):
    call = Call(name="c", turns=[Turn(), Turn(dtmf="1")], expect=Expect(outcome="transferred"))
    observation = observe(call, bot_audio)
    observation.turns[1] = TurnObservation(call.turns[1], problem="no reply from the bot within 30 s")
    observation.record = None
    report = evaluate("demo", observation, whisper)
    assert [(c.what, c.detail) for c in report.failures] == [
        ("turn 2 (presses 1): bot replied", "no reply from the bot within 30 s"),
        ("call record", "the server has no record of call CA1"),
    ]


def test_no_screen_pop_can_be_required(whisper, bot_audio):
    call = Call(name="c", turns=[Turn(), Turn(dtmf="2")], expect=Expect(screen_pop=False))
    report = evaluate("demo", observe(call, bot_audio), whisper)
    assert [(c.what, c.passed, c.detail) for c in report.checks] == [("no screen pop", False, "1 sent")]
