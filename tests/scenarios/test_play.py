"""Which bot prompt is a turn's reply, as the caller on an unconnected phone sees its prompts arrive."""

from __future__ import annotations

import asyncio
import time

from voicebot.caller import BotUtterance, caller_for
from voicebot.scenarios import play
from voicebot.scenarios.model import Turn
from voicebot.scenarios.play import CLEAR_GRACE_SECS, TurnObservation, _await_reply


def phone_with(*utterances: BotUtterance):
    phone = caller_for("twilio", "ws://127.0.0.1:9")
    phone.utterances = list(utterances)
    return phone


def finished_turn(said_for: float = 2.0, **turn) -> TurnObservation:
    """A say turn whose caller stopped speaking just now."""
    now = time.perf_counter()
    return TurnObservation(Turn(say="I'm calling about my router.", **turn), began_at=now - said_for, timed_from=now)


async def test_a_prompt_begun_early_and_cleared_is_not_the_reply_the_answer_after_it_is():
    obs = finished_turn()
    early = BotUtterance(first_audio_at=obs.timed_from - 0.3, mark="utt-1", cleared=True)
    phone = phone_with(early)

    async def answer_later():
        await asyncio.sleep(0.2)
        phone.utterances.append(BotUtterance(first_audio_at=time.perf_counter(), mark="utt-2"))

    await asyncio.gather(_await_reply(phone, obs, -1), answer_later())
    assert obs.reply_index == 1 and obs.withdrawn is early
    assert obs.latency_ms is not None and obs.latency_ms > 0
    assert round(obs.early_ms or 0) == 300


async def test_the_clear_of_an_early_start_may_arrive_after_the_callers_last_word(monkeypatch):
    monkeypatch.setattr(play, "CLEAR_GRACE_SECS", 10.0)
    obs = finished_turn()
    early = BotUtterance(first_audio_at=obs.timed_from - 0.1, mark="utt-1")
    phone = phone_with(early)

    async def clear_then_answer():
        await asyncio.sleep(0.3)
        early.cleared = True
        await asyncio.sleep(0.2)
        phone.utterances.append(BotUtterance(first_audio_at=time.perf_counter(), mark="utt-2"))

    await asyncio.gather(_await_reply(phone, obs, -1), clear_then_answer())
    assert obs.reply_index == 1 and obs.withdrawn is early


async def test_an_early_start_never_taken_back_is_the_reply_once_the_grace_is_over():
    obs = finished_turn()
    phone = phone_with(BotUtterance(first_audio_at=obs.timed_from - 0.4, mark="utt-1"))
    await _await_reply(phone, obs, -1)
    assert obs.reply_index == 0 and obs.withdrawn is None
    assert time.perf_counter() >= obs.timed_from + CLEAR_GRACE_SECS
    assert round(obs.early_ms or 0) == 400 and (obs.latency_ms or 0) < 0


async def test_an_early_start_heard_to_its_end_is_the_reply_without_waiting(monkeypatch):
    monkeypatch.setattr(play, "CLEAR_GRACE_SECS", 10.0)
    obs = finished_turn()
    phone = phone_with(BotUtterance(first_audio_at=obs.timed_from - 0.4, mark="utt-1"))
    phone.marks_echoed.append("utt-1")
    await _await_reply(phone, obs, -1)
    assert obs.reply_index == 0
    assert time.perf_counter() < obs.timed_from + 10.0


async def test_a_prompt_from_before_the_turn_began_is_never_its_reply():
    obs = finished_turn(timeout_secs=0.3)
    phone = phone_with(BotUtterance(first_audio_at=obs.began_at - 1.0, mark="utt-1"))
    await _await_reply(phone, obs, -1)
    assert obs.reply is None and obs.problem == "no reply from the bot within 0.3 s"


async def test_a_turn_that_expects_the_take_back_skips_an_early_start_even_if_never_cleared():
    obs = finished_turn(taken_back=True)
    phone = phone_with(BotUtterance(first_audio_at=obs.timed_from - 0.4, mark="utt-1"))
    phone.utterances.append(BotUtterance(first_audio_at=obs.timed_from + 0.5, mark="utt-2"))
    await _await_reply(phone, obs, -1)
    assert obs.reply_index == 1
