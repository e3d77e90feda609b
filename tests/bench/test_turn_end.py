"""The end-of-turn benchmark's rules: cut-offs and waits from the judged pauses, as the turn taker would decide."""

from pathlib import Path

from voicebot.bench.turn_end import Material, Pause, Rendering, Rule, fixed_stop, load_material, outcome, summarise
from voicebot.config import TurnSettings
from voicebot.pipeline.turns import TurnPolicy

POLICY = TurnPolicy.from_settings(TurnSettings(brief_secs=0.3, answer_secs=0.3, hold_secs=1.1, unfinished_secs=1.5))
SHIPPED = Rule.from_policy("shipped", POLICY, smart_turn=False)


def halves(first: str, answers_first: bool) -> Rendering:
    """ "first | rest": the bar's pause after ``first`` (its length is the bench's), speech ends at 3.0 s."""
    return Rendering(
        Material("paused", f"{first} | the rest."),
        "test",
        speech_end=3.0,
        pauses=[
            Pause(1.0, 1.6, at_bar=True, stop_after=0.2, text=first, answers=answers_first),
            Pause(3.05, None, at_bar=False, stop_after=0.2, text=f"{first} the rest.", answers=True),
        ],
    )


def test_a_pause_longer_than_the_wait_for_its_words_cuts_the_caller_off():
    assert outcome(halves("Agent.", answers_first=True), SHIPPED, bar_secs=0.5).cut_off
    assert not outcome(halves("Agent.", answers_first=True), SHIPPED, bar_secs=0.25).cut_off


def test_words_that_lead_on_hold_the_turn_through_a_long_pause():
    rendering = halves("I'm calling about.", answers_first=False)
    assert not outcome(rendering, SHIPPED, bar_secs=1.0).cut_off
    assert outcome(rendering, fixed_stop(0.5), bar_secs=1.0).cut_off


def test_a_lone_opener_is_held_past_a_comma_pause_without_smart_turn():
    rendering = halves("Yes.", answers_first=True)
    assert not outcome(rendering, SHIPPED, bar_secs=0.7).cut_off
    assert outcome(rendering, SHIPPED, bar_secs=1.2).cut_off


def test_the_wait_at_the_end_counts_from_the_last_loud_sample():
    result = outcome(halves("I'm calling about.", answers_first=False), SHIPPED, bar_secs=0.7)
    assert abs(result.wait_secs - 0.35) < 1e-9  # 50 ms of voice-like tail, then the 0.3 s answer wait


def test_a_rendering_the_vad_never_heard_is_counted_unheard_not_dropped():
    silent = Rendering(Material("short", "No."), "test", speech_end=0.8)
    row = summarise([silent, halves("Agent.", answers_first=True)], SHIPPED, [0.5])
    assert row["unheard"] == 1 and row["short_cut"] == "0/1" and row["short_p50"] is None


def test_the_material_has_a_sealed_part_with_other_phrasings():

    root = Path(__file__).resolve().parents[2] / "benchmarks/data/turns"
    dev, test = load_material(root / "dev.tsv"), load_material(root / "test.tsv")
    assert {m.kind for m in dev} == {m.kind for m in test} == {"short", "sentence", "paused"}
    assert not {m.text for m in dev} & {m.text for m in test}
    assert all(len(m.pieces) == 2 for m in test if m.kind == "paused")
