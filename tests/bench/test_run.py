"""How the bench counts each caller turn: answered, a cut-off, unanswered, or after the bot hung up."""

from __future__ import annotations

from voicebot.bench.run import HUNG_UP, outcome_of
from voicebot.caller import BotUtterance
from voicebot.scenarios.model import Turn
from voicebot.scenarios.play import TurnObservation


def turn(**fields) -> TurnObservation:
    return TurnObservation(Turn(say="Agent."), began_at=10.0, timed_from=11.0, **fields)


def test_a_reply_after_the_last_word_is_answered():
    assert outcome_of(turn(reply=BotUtterance(first_audio_at=11.4)), HUNG_UP) == "answered"


def test_a_reply_before_the_last_word_is_a_cut_off_and_so_is_one_taken_back():
    assert outcome_of(turn(reply=BotUtterance(first_audio_at=10.8)), HUNG_UP) == "premature"
    withdrawn = turn(withdrawn=BotUtterance(first_audio_at=10.9, cleared=True), reply=BotUtterance(first_audio_at=12))
    assert outcome_of(withdrawn, HUNG_UP) == "premature"


def test_a_turn_the_bot_hung_up_on_is_ended_but_a_stream_that_broke_is_unanswered():
    assert outcome_of(turn(call_ended=True), HUNG_UP) == "ended"
    assert outcome_of(turn(call_ended=True), 1006) == "unanswered"
    assert outcome_of(turn(), None) == "unanswered"
