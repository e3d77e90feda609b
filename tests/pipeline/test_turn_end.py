"""The end-of-turn model on real speech: a finished question sounds finished, a cut-off one does not."""

from __future__ import annotations

import pytest

from voicebot.pipeline.turn_end import EndOfTurnModel


@pytest.fixture(scope="module")
def model() -> EndOfTurnModel:
    return EndOfTurnModel()


def test_a_finished_sentence_ends_the_turn_and_a_cut_off_one_does_not(model, caller_voice):
    finished = caller_voice.synthesize("What is the status of my case?")  # about 0.99
    cut_off = caller_voice.synthesize("Can you tell me when the")  # about 0.01
    assert model.probability(finished, 8000) > 0.5
    assert model.probability(cut_off, 8000) < 0.5


def test_audio_longer_than_the_models_eight_seconds_is_judged_on_its_end(model, caller_voice):
    long_turn = b"\0\0" * 8000 * 12 + caller_voice.synthesize("I would like to talk to a person, please.")
    assert model.probability(long_turn, 8000) > 0.5
