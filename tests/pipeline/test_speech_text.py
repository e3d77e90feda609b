"""Identifiers read so a caller can write them down."""

from voicebot.pipeline.speech_text import speakable, split_sentences


def test_case_numbers_are_spelled_letter_by_letter_and_digit_by_digit():
    assert speakable("Your case is CAS-01234.") == "Your case is C A S, zero, one, two, three, four."


def test_long_digit_runs_are_read_digit_by_digit():
    assert speakable("ticket 40571") == "ticket four, zero, five, seven, one"


def test_ordinary_words_and_short_numbers_are_left_alone():
    assert (
        speakable("Press 1 for an agent, or 2 if you are all set.") == "Press 1 for an agent, or 2 if you are all set."
    )


def test_sentences_split_for_streaming():
    assert split_sentences("Hi Jane. Your case is open. Anything else?") == [
        "Hi Jane.",
        "Your case is open.",
        "Anything else?",
    ]
