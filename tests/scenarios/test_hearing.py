"""Hearing the bot: its real audio transcribed back, and a comparison that forgives recogniser slips."""

from __future__ import annotations

import pytest

from voicebot.scenarios.hearing import matches, normalise, says, spoken_digits, transcribe_8k


@pytest.mark.parametrize(
    ("heard", "digits"),
    [
        ("your latest case is C-A-S-0-1-1-8-7", "01187"),
        ("case CS0, 1, 2, 3, 4, router", "01234"),
        ("case EFS 0123 four router", "01234"),
        ("zero one two three four", "01234"),
    ],
)
def test_case_numbers_are_read_the_way_a_listener_writes_them_down(heard, digits):
    assert spoken_digits(heard) == digits
    assert says(heard, digits)


def test_normalising_ignores_case_and_punctuation_and_joins_digit_groups():
    assert normalise("Hi, Jane. Thanks for calling!") == "hi jane thanks for calling"
    assert normalise("CAS-01234 is In Progress") == "cas 01234 is in progress"
    assert normalise("It's 0 1 2") == "it's 012"


def test_a_recogniser_slip_still_says_the_phrase_but_a_different_sentence_does_not():
    heard = "Thanks for calling, Carls. Goodbye."
    assert says(heard, "Thanks for calling, Carlos")
    assert says(heard, "goodbye")
    assert not says(heard, "connecting you to an agent")
    assert not says("", "goodbye")


def test_patterns_match_the_transcript_as_heard_or_normalised():
    assert matches("Your case is CAS-0-1-2-3-4.", r"case is cas 01234")
    assert matches("Sure, I'm connecting you", r"connecting (you|u)")
    assert not matches("Goodbye.", r"agent")


def test_the_bots_real_audio_is_heard_back(whisper):
    from voicebot.pipeline.tts import Voice, default_voice_path

    bot = Voice(default_voice_path(), sample_rate=8000)
    pcm = bot.synthesize("Sure. I'm connecting you to an agent now.")
    heard = transcribe_8k(whisper, b"\0\0" * 8000 + pcm + b"\0\0" * 8000)
    assert says(heard, "connecting you to an agent"), heard
    assert transcribe_8k(whisper, b"\0\0" * 16000) == ""
