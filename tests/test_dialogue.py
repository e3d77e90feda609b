"""The call flow, as the seed contact-center flows define it, without any audio."""

from datetime import UTC, datetime

import pytest

from voicebot.config import DialogueSettings
from voicebot.dialogue import MENU, CallFlow, Next, yes_or_no
from voicebot.intents import IntentRouter
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import Case, Customer
from voicebot.tools.lookup import CallerContext

NOW = datetime(2026, 11, 20, tzinfo=UTC)
JANE = Customer("cust-jane", "Jane Doe", "Jane")
CASE = Case("case-1", "CAS-01234", "Router drops", "In progress", "cust-jane", NOW, NOW)
ROUTER = IntentRouter.load()


def flow(context: CallerContext, **settings) -> CallFlow:
    return CallFlow(context, ROUTER, DialogueSettings(**settings))


def known() -> CallerContext:
    return CallerContext(normalize_ani("+14155552671"), JANE, CASE, 1)


def test_known_caller_is_greeted_by_first_name_with_the_case_and_the_menu():
    reply = flow(known()).greeting()
    assert reply.next is Next.LISTEN
    assert reply.text.startswith("Hi Jane")
    assert "CAS-01234" in reply.text and "Router drops" in reply.text and "In progress" in reply.text
    assert "agent" in reply.text and "all set" in reply.text


def test_the_case_number_ends_its_own_sentence_so_its_last_digit_stands_apart():
    assert "is CAS-01234. Router drops. Its status is In progress." in flow(known()).greeting().text
    asked = Case("case-2", "CAS-01235", "Refund when?", "New", "cust-jane", NOW, NOW)
    context = CallerContext(normalize_ani("+14155552671"), JANE, asked, 1)
    assert "is CAS-01235. Refund when. Its status is New." in flow(context).greeting().text


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (CallerContext(normalize_ani("+12125550123")), "unknown_caller"),
        (CallerContext(normalize_ani("anonymous"), crm_status="skipped"), "unknown_caller"),
        (CallerContext(normalize_ani("+14155552671"), JANE, None, 1), "no_open_case"),
        (
            CallerContext(normalize_ani("+14155552671"), crm_status="unavailable", crm_error="timeout"),
            "crm_unavailable",
        ),
    ],
)
def test_callers_without_a_case_are_told_and_transferred_with_a_new_case_form(context, reason):
    reply = flow(context).greeting()
    assert reply.next is Next.TRANSFER
    assert reply.handoff.reason == reason and reply.handoff.action == "new_case_form"


async def test_asking_for_an_agent_transfers_with_the_case_open():
    reply = await flow(known()).on_speech("can I talk to a person")
    assert reply.next is Next.TRANSFER
    assert (reply.handoff.reason, reply.handoff.action) == ("caller_requested_agent", "open_case")
    assert reply.intent.intent == "agent"


async def test_goodbye_thanks_the_caller_and_hangs_up():
    reply = await flow(known()).on_speech("no thanks that's all")
    assert reply.next is Next.HANG_UP and "Jane" in reply.text


async def test_repeat_reads_the_case_again_and_keeps_listening():
    reply = await flow(known()).on_dtmf("9")
    assert reply.next is Next.LISTEN and "CAS-01234" in reply.text


async def test_status_reads_the_case_as_the_crm_has_it_now():
    fresh = Case("case-1", "CAS-01234", "Router drops", "Waiting for parts", "cust-jane", NOW, NOW)

    async def refresh():
        return fresh

    f = CallFlow(known(), ROUTER, DialogueSettings(), refresh_case=refresh)
    reply = await f.on_speech("what's the status of my case")
    assert "Waiting for parts" in reply.text and "November 20" in reply.text


async def test_a_new_problem_goes_to_an_agent_with_a_new_case_form():
    reply = await flow(known()).on_speech("I have a different problem")
    assert reply.next is Next.TRANSFER and reply.handoff.action == "new_case_form"


async def test_two_misunderstandings_in_a_row_transfer():
    f = flow(known())
    first = await f.on_speech("purple elephant")
    assert first.next is Next.LISTEN
    second = await f.on_speech("banana")
    assert second.next is Next.TRANSFER and second.handoff.reason == "not_understood"
    assert second.branch == "gave_up" and second.handoff.action == "open_case"


async def test_a_miss_is_reasked_with_what_the_caller_can_say():
    reply = await flow(known()).on_speech("um")
    assert reply.branch == "not_understood" and reply.next is Next.LISTEN
    assert reply.text.startswith("Sorry, I didn't get that.")
    assert all(word in reply.text for word in ("agent", "all set", "status", "repeat", "press 1"))


def unsure_router() -> IntentRouter:
    """The bundled table, never confident enough to act: every guess lands in the confirm band."""
    return IntentRouter(ROUTER.table, threshold=1.0, semantic=ROUTER.semantic)


async def test_middling_confidence_asks_to_confirm_and_a_yes_acts_on_the_guess():
    f = CallFlow(known(), unsure_router(), DialogueSettings())
    check = await f.on_speech("I'd like to talk to a person")
    assert check.branch == "confirm" and check.next is Next.LISTEN
    assert check.text == "Just to check: you'd like to speak to an agent?"
    assert check.intent.intent is None and check.intent.best == "agent"
    done = await f.on_speech("Yes, please.")
    assert done.next is Next.TRANSFER and done.branch == "confirmed"
    assert done.handoff.reason == "caller_requested_agent" and done.intent.intent == "agent"
    assert done.intent.heard == "Yes, please."


async def test_a_no_to_the_check_reasks_with_the_options_and_counts_as_a_miss():
    f = CallFlow(known(), unsure_router(), DialogueSettings())
    await f.on_speech("I'd like to talk to a person")
    declined = await f.on_speech("no")
    assert declined.branch == "declined" and declined.next is Next.LISTEN
    assert "You can say agent" in declined.text and declined.text.endswith(MENU)
    await f.on_speech("what is the status")  # checked again
    assert (await f.on_speech("nope")).next is Next.TRANSFER  # the second miss in a row


async def test_saying_something_else_after_a_check_is_taken_as_a_new_answer():
    f = flow(known())
    f.asked = "confirm"
    reply = await f.on_speech("no, I want to know the status of my case")
    assert reply.branch == "act" and reply.intent.intent == "status"


@pytest.mark.parametrize(
    ("said", "next_", "intent"),
    [
        ("no", Next.HANG_UP, "goodbye"),
        ("Nope.", Next.HANG_UP, "goodbye"),
        ("no thank you", Next.HANG_UP, "goodbye"),
        ("Yes.", Next.TRANSFER, "agent"),
        ("yeah sure", Next.TRANSFER, "agent"),
        ("yep", Next.TRANSFER, "agent"),
    ],
)
async def test_a_bare_yes_or_no_to_agent_or_all_set_is_resolved_by_the_question(said, next_, intent):
    reply = await flow(known()).on_speech(said)
    assert reply.next is next_ and reply.intent.intent == intent and reply.branch == "answered"


async def test_a_request_the_bot_cannot_handle_is_told_what_it_can_do_and_offered_an_agent():
    f = flow(known())
    reply = await f.on_speech("can you book me a taxi to the airport")
    assert reply.branch == "out_of_scope" and reply.next is Next.LISTEN
    assert "can't help with that" in reply.text and reply.text.endswith("Would you like an agent?")
    assert "where your case stands" in reply.text
    yes = await f.on_speech("yes please")
    assert yes.next is Next.TRANSFER and yes.handoff.reason == "caller_requested_agent"


async def test_a_no_to_the_offered_agent_goes_back_to_the_menu_not_to_goodbye():
    f = flow(known())
    await f.on_speech("what time do you close on sundays")
    reply = await f.on_speech("no")
    assert reply.next is Next.LISTEN and reply.branch == "answered" and reply.text == f"No problem. {MENU}"
    assert (await f.on_speech("no")).next is Next.HANG_UP  # now it is the menu's no


@pytest.mark.parametrize("said", ["Hello?", "hello, hello", "Hi."])
async def test_a_caller_checking_the_line_is_answered_and_asked_again_not_refused(said):
    f = flow(known())
    reply = await f.on_speech(said)
    assert reply.branch == "greeted" and reply.text == f"Hello, I'm here. {MENU}" and f.misses == 0


@pytest.mark.parametrize(
    ("said", "answer"),
    [
        ("yes", True),
        ("Yeah, please.", True),
        ("that's right", True),
        ("uh-huh", True),
        ("No.", False),
        ("nope, thanks", False),
        ("not really", False),
        ("no, I want the status", None),
        ("the agent", None),
    ],
)
def test_yes_or_no_reads_only_bare_answers(said, answer):
    assert yes_or_no(said) is answer


async def test_understanding_resets_the_miss_count():
    f = flow(known())
    await f.on_speech("purple elephant")
    await f.on_dtmf("9")
    assert (await f.on_speech("banana")).next is Next.LISTEN


def test_silence_reprompts_then_transfers_after_two_reprompts():
    f = flow(known(), max_silent_prompts=2)
    assert f.on_silence().text.startswith("Are you still there")
    assert f.on_silence().next is Next.LISTEN
    last = f.on_silence()
    assert last.next is Next.TRANSFER and last.handoff.reason == "no_response"


async def test_a_preview_says_what_the_reply_would_be_and_changes_nothing():
    f = flow(known())
    first = await f.on_speech("mumble mumble")  # one miss: the next would be the second
    before = f.snapshot()
    preview = await f.preview("I'd like to talk to a person")
    assert preview.next is Next.TRANSFER and preview.acts
    assert f.snapshot() == before
    assert not first.acts


async def test_an_answer_taken_back_leaves_the_dialogue_as_it_was_before_it():
    f = flow(known())
    before = f.snapshot()
    reply = await f.on_speech("No thanks, that's all.")
    assert f.finished and reply.next is Next.HANG_UP
    f.restore(before)
    assert not f.finished and f.snapshot() == before
    assert (await f.on_speech("What's the status of my case?")).intent.intent == "status"
