"""The intent router: table-driven, fuzzy, confident or honest about not understanding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from voicebot.intents import IntentRouter, normalize

UTTERANCES = Path(__file__).parent / "data" / "utterances.tsv"


def labelled() -> list[tuple[str, str, str]]:
    rows = []
    for line in UTTERANCES.read_text().splitlines():
        if line and not line.startswith("#"):
            intent, text, source = line.split("\t")
            rows.append((intent, text, source))
    return rows


@pytest.fixture(scope="module")
def router() -> IntentRouter:
    return IntentRouter.load()


def test_the_labelled_set_is_large_and_includes_real_recogniser_output():
    rows = labelled()
    assert len(rows) >= 150
    assert sum(source == "tiny.en" for _, _, source in rows) >= 50
    assert {intent for intent, _, _ in rows} >= {"agent", "goodbye", "repeat", "status", "new_problem", "none"}


def test_router_accuracy_on_the_labelled_set_is_at_least_95_percent(router):
    rows = labelled()
    misses = []
    for intent, text, source in rows:
        got = router.route(text).intent or "none"
        if got != intent:
            misses.append((intent, got, text, source))
    accuracy = 1 - len(misses) / len(rows)
    print(f"\nrouter accuracy: {accuracy:.1%} on {len(rows)} utterances; misses: {misses}")
    assert accuracy >= 0.95, misses


@pytest.mark.parametrize(
    ("heard", "intent"),
    [
        ("I want a life person.", "agent"),  # tiny.en for "live person"
        ("Represents it too.", "agent"),  # tiny.en for "representative"
        ("a gent please", "agent"),
        ("uh, yeah, I'd like to talk to a person, thanks", "agent"),
        ("No, I need to talk to someone.", "agent"),
        ("No thanks.", "goodbye"),
        ("I don't need an agent.", "goodbye"),
        ("What's the status of my ticket?", "status"),
        ("Could you say that again?", "repeat"),
        ("It's about a different problem.", "new_problem"),
    ],
)
def test_phrasings_and_misrecognitions_route_to_their_intent(router, heard, intent):
    assert router.route(heard).intent == intent


def test_nonsense_is_not_understood_and_says_how_unsure(router):
    match = router.route("purple monkey dishwasher")
    assert match.intent is None and not match.understood
    assert 0 <= match.confidence < router.threshold


def test_empty_speech_is_not_understood(router):
    assert router.route("  ... ").intent is None


def test_dtmf_keys_come_from_the_table(router):
    assert [router.route_dtmf(d).intent for d in "1029"] == ["agent", "agent", "goodbye", "repeat"]
    assert router.route_dtmf("7").intent is None
    assert router.route_dtmf("1").source == "dtmf"


def test_a_user_table_extends_the_bundled_one_without_code(tmp_path):
    extra = tmp_path / "intents.toml"
    extra.write_text(
        '[intents.billing]\nexamples = ["I have a billing question"]\nkeywords = ["invoice", "bill"]\ndtmf = ["4"]\n'
        '[intents.agent]\nkeywords = ["escalate"]\n'
    )
    router = IntentRouter.load(extra)
    assert router.route("question about my invoice").intent == "billing"
    assert router.route_dtmf("4").intent == "billing"
    assert router.route("escalate this").intent == "agent"
    assert router.route("operator").intent == "agent"  # bundled entries are kept


def test_normalize_drops_fillers_and_expands_contractions():
    assert normalize("Um, I'm all set!") == "i am all set"
    assert normalize("That’s all.") == "that is all"


def test_scores_cover_every_intent(router):
    match = router.route("representative")
    assert set(match.scores) == {i.name for i in router.intents}
    assert Counter(match.scores).most_common(1)[0][0] == "agent"
