"""How long the turn taker waits after each kind of pause: what the words say, and what the dialogue makes of them."""

from __future__ import annotations

import pytest

from voicebot.config import TurnSettings
from voicebot.pipeline.turns import TurnPolicy, shape_of, sounds_finished


@pytest.mark.parametrize(
    ("text", "answers", "shape"),
    [
        ("Agent.", True, "brief"),
        ("A real person.", True, "brief"),
        ("What's the status of my case?", True, "answer"),
        ("Yes.", True, "opener"),  # Whisper writes "Yes," as "Yes.": it may be the start of more
        ("No thanks.", True, "opener"),
        ("Sorry.", False, "opener"),
        ("No thing.", True, "opener"),  # "No thanks," on a noisy line: the opener decides, not the mishearing
        ("No, that's it.", True, "brief"),
        ("I'm calling about.", True, "unfinished"),
        ("I wanted to ask.", False, "unfinished"),
        ("Can I talk to?", True, "unfinished"),  # a question mark does not finish a question not yet asked
        ("Could you tell me?", False, "unfinished"),
        ("Um.", False, "unfinished"),
        ("Well.", False, "unfinished"),
        ("So the thing is...", False, "unfinished"),
        ("The weather is nice today.", False, "unclear"),
        ("", False, "answer"),  # noise: nothing to wait for
    ],
)
def test_a_pause_is_judged_by_its_words_and_whether_they_answer(text, answers, shape):
    assert shape_of(text, answers) == shape


def test_a_question_ends_a_turn_unless_it_ends_on_a_word_that_leads_on():
    assert sounds_finished("Can you repeat that?")
    assert not sounds_finished("Can I speak to?")


def test_each_shape_waits_its_configured_silence():
    policy = TurnPolicy.from_settings(
        TurnSettings(brief_secs=0.25, answer_secs=0.3, hold_secs=1.1, unfinished_secs=1.5, complete_threshold=0.5)
    )
    assert policy.wait_secs("brief", None) == 0.25
    assert policy.wait_secs("answer", None) == 0.3
    assert policy.wait_secs("opener", None) == 1.1
    assert policy.wait_secs("unclear", None) == 1.1
    assert policy.wait_secs("unfinished", None) == 1.5


def test_smart_turn_ends_a_held_turn_it_hears_finished_but_never_an_unfinished_one():
    policy = TurnPolicy.from_settings(TurnSettings(answer_secs=0.3, hold_secs=1.1, complete_threshold=0.5))
    assert policy.wait_secs("opener", 0.9) == 0.3
    assert policy.wait_secs("opener", 0.2) == 1.1
    assert policy.wait_secs("unfinished", 0.99) == policy.unfinished_secs
    assert policy.needs_voice("opener") and policy.needs_voice("unclear")
    assert not policy.needs_voice("answer") and not policy.needs_voice("unfinished")
