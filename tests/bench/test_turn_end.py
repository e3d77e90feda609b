"""The end-of-turn benchmark's rule: cut-offs and waits from pauses, as the turn processor would decide."""

from voicebot.bench.turn_end import Pause, Sentence, turn_rule


def comma_sentence() -> Sentence:
    """ "No thanks, | that's all." with a 0.45 s pause after "thanks"; speech ends at 2.0 s."""
    return Sentence(
        "No thanks, that's all.",
        speech_end=2.0,
        pauses=[Pause(0.9, 1.35, "No thanks."), Pause(2.0, None, "No thanks, that's all.")],
        stops={0.4: [1.3, 2.4], 0.5: [2.5]},
    )


def test_a_stop_inside_the_sentence_cuts_the_caller_off():
    assert turn_rule(comma_sentence(), 0.4).cut_off


def test_a_stop_after_the_sentence_waits_from_the_end_of_speech():
    outcome = turn_rule(comma_sentence(), 0.5)
    assert not outcome.cut_off
    assert abs(outcome.wait_secs - 0.5) < 1e-9


def test_words_that_trail_off_are_held_until_the_caller_goes_on():
    sentence = Sentence(
        "I'm calling about my refund.",
        speech_end=2.5,
        pauses=[Pause(1.2, 1.8, "I'm calling about my..."), Pause(2.5, None, "I'm calling about my refund.")],
        stops={0.5: [1.7, 3.0]},
    )
    assert turn_rule(sentence, 0.5).cut_off
    held = turn_rule(sentence, 0.5, unfinished_secs=0.8)
    assert not held.cut_off and abs(held.wait_secs - 0.5) < 1e-9


def test_a_finished_sentence_gains_nothing_from_the_hold():
    assert turn_rule(comma_sentence(), 0.4, unfinished_secs=0.8).cut_off
