"""The intent router: keywords and meaning from a table, confident or honest about not understanding."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from voicebot.intents import NONE, IntentRouter, normalize
from voicebot.intents.table import Intent, IntentTable

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


def test_a_mangled_keyword_alone_is_never_acted_on_as_another_intent(router):
    # tiny.en for "representative": the keyword match says agent, the meaning says nothing
    assert router.route("Represents it too.").intent in (None, "agent")


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


def test_a_new_intent_from_examples_alone_understands_phrasings_it_was_not_given(tmp_path):
    extra = tmp_path / "intents.toml"
    extra.write_text(
        "[intents.billing]\n"
        'examples = ["I have a question about my bill", "why is my bill so high", "my invoice looks wrong",'
        ' "can you explain my statement", "what are these charges on my bill", "a billing question",'
        ' "I need to ask about my invoice", "the amount on my bill is confusing"]\n'
    )
    router = IntentRouter.load(extra)
    for said in ("could you go through my latest invoice with me", "I don't understand the amounts on my bill"):
        assert router.route(said).intent == "billing", said
    assert router.route("I want to talk to a person").intent == "agent"


def test_out_of_scope_examples_in_a_user_table_teach_what_not_to_understand(tmp_path):
    said = "I would like to renew my parking permit"
    extra = tmp_path / "intents.toml"
    extra.write_text(
        '[out_of_scope]\nexamples = ["renew my parking permit", "parking permits", "apply for a permit"]\n'
    )
    assert IntentRouter.load(extra).route(said).out_of_scope


@pytest.mark.parametrize(
    ("said", "intent"),
    [
        ("could I have a word with a member of your team", "agent"),
        ("would it be possible to chat with one of your staff", "agent"),
        ("I reckon that covers everything", "goodbye"),
        ("brilliant, cheers", "goodbye"),
        ("has the engineer made any headway", "status"),
        ("how far along is it", "status"),
        ("there is a fault on my line", "new_problem"),
    ],
)
def test_paraphrases_without_the_tables_words_are_understood_by_meaning(router, said, intent):
    assert router.route(said).intent == intent


@pytest.mark.parametrize("said", ["what time do you close on sundays", "can you book me a taxi"])
def test_requests_the_bot_cannot_handle_are_out_of_scope_not_guessed(router, said):
    match = router.route(said)
    assert match.intent is None and match.out_of_scope
    assert match.best is not None and match.confidence < router.threshold


@pytest.mark.parametrize(
    "said",
    ["Hang on.", "Hang on, I'm just looking for something.", "Not sure.", "I'm not sure yet.", "Give me a second."],
)
def test_a_caller_who_asks_for_a_moment_or_hesitates_is_never_hung_up_on(router, said):
    """'Hang on' is one word from 'hang up': ending the call on it would cut off a caller fetching a reference."""
    assert router.route(said).intent != "goodbye"


@pytest.mark.parametrize(
    "said",
    [
        "Please don't hang up on me.",
        "No, that isn't everything.",
        "I haven't got what I needed.",
        "Hold on, I'm not done talking.",
        "I'm not quite finished yet.",
    ],
)
def test_a_caller_who_says_they_are_not_done_is_never_hung_up_on(router, said):
    """A sentence encoder puts "I'm not done" beside "I'm done"; the words' own "not" decides (none are examples)."""
    assert router.route(said).intent != "goodbye"


def test_a_request_said_with_a_not_is_not_that_request(router):
    assert router.route("I don't want to talk to a person.").intent != "agent"
    assert IntentRouter.load(embedder=None).route("Don't hang up.").intent != "goodbye"


def test_a_table_whose_every_intent_is_said_with_a_not_understands_nothing():
    router = IntentRouter(IntentTable((Intent("agent", examples=("I want an agent",), keywords=("agent",)),)))
    match = router.route("I don't want an agent.")
    assert match.intent is None and match.confidence == 0.0


@pytest.mark.parametrize(
    "said", ["I don't need anything else, that's all.", "No thanks.", "Not right now.", "I don't need an agent."]
)
def test_a_goodbye_that_declines_with_a_not_is_still_a_goodbye(router, said):
    assert router.route(said).intent == "goodbye"


def test_the_keyword_router_alone_still_works_without_an_embedder():
    router = IntentRouter.load(embedder=None)
    assert router.semantic is None
    assert router.route("representative please").intent == "agent"
    assert router.route("purple monkey dishwasher").intent is None


def test_the_sentence_encoder_is_loaded_once_per_process(tmp_path):
    extra = tmp_path / "intents.toml"
    extra.write_text('[intents.billing]\nexamples = ["a billing question"]\n')
    assert IntentRouter.load(extra).semantic.embedder is IntentRouter.load().semantic.embedder


async def test_understanding_runs_off_the_event_loop_and_agrees_with_route(router):
    assert (await router.understand("put me through to someone")) == router.route("put me through to someone")


def test_normalize_drops_fillers_and_expands_contractions():
    assert normalize("Um, I'm all set!") == "i am all set"
    assert normalize("That’s all.") == "that is all"


def test_scores_cover_every_intent_and_none(router):
    match = router.route("representative")
    assert set(match.scores) == {i.name for i in router.intents} | {NONE}
    assert Counter(match.scores).most_common(1)[0][0] == "agent"


async def test_words_routed_while_the_caller_paused_are_not_routed_again_when_the_turn_ends(monkeypatch):
    router = IntentRouter.load(embedder=None)
    routed: list[str] = []
    route = router.route
    monkeypatch.setattr(router, "route", lambda text: routed.append(text) or route(text))
    first = await router.understand("I'd like to talk to a person")
    again = await router.understand("I'd like to talk to a person")
    assert again == first and routed == ["I'd like to talk to a person"]
