"""The call flow, as the seed contact-center flows define it, without any audio."""

from datetime import UTC, datetime

import pytest

from voicebot.config import DialogueSettings
from voicebot.dialogue import CallFlow, Next
from voicebot.intents import IntentRouter
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm import Case, Customer
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
    assert first.next is Next.LISTEN and first.text.startswith("Sorry")
    second = await f.on_speech("banana")
    assert second.next is Next.TRANSFER and second.handoff.reason == "not_understood"


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
