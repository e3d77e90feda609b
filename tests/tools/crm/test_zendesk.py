"""Zendesk against a loopback stand-in that checks auth and the search query."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

import pytest

from tests.standins.zendesk import API_TOKEN, EMAIL, Zendesk
from tests.storage.test_outbox import until
from voicebot.config import load_settings
from voicebot.server.logs import setup_logging
from voicebot.storage.outbox import Outbox
from voicebot.storage.sqlite.outbox import SQLiteOutboxStore
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import CallNote, open_crm
from voicebot.tools.crm.http import CRMHTTPError
from voicebot.tools.lookup import look_up_caller

JANE = "+14155552671"


@pytest.fixture
def zendesk():
    standin = Zendesk()
    yield standin
    standin.close()


def settings(zendesk: Zendesk, timeout: float = 0.5, **zd):
    """``timeout``: 0.5 s keeps the failure tests fast; tests of concurrency give requests room on a loaded machine."""
    return load_settings(
        environ={},
        crm={
            "backend": "zendesk",
            "request_timeout_secs": timeout,
            "breaker_reset_secs": 0.3,
            "zendesk": {"base_url": zendesk.url, "email": EMAIL, "api_token": API_TOKEN, **zd},
        },
    )


@pytest.fixture
async def crm(zendesk):
    crm = open_crm(settings(zendesk), "")
    yield crm
    await crm.close()


async def test_a_look_up_logs_neither_the_number_nor_the_name(zendesk, crm, caplog):
    setup_logging("INFO")
    caplog.set_level(logging.INFO)
    zendesk.add_user("Jane Doe", "+1 (415) 555-2671")
    assert (await look_up_caller(crm, normalize_ani(JANE), 1.5)).customer.name == "Jane Doe"
    zendesk.fail_next(503, 3)
    await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert caplog.records  # the failure was logged...
    assert "4155552671" not in caplog.text and "2671" not in caplog.text and "Jane" not in caplog.text  # ...masked


async def test_caller_found_by_phone_with_latest_unresolved_ticket(zendesk, crm):
    jane = zendesk.add_user("Jane Doe", "+1 (415) 555-2671")
    zendesk.add_ticket(jane, "Old question", "solved", "2026-11-19T00:00:00Z")
    zendesk.add_ticket(jane, "Printer jams", "open", "2026-11-10T00:00:00Z", priority="high")
    zendesk.add_ticket(jane, "Earlier thing", "pending", "2026-10-01T00:00:00Z")
    context = await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert context.customer.name == "Jane Doe" and context.customer.id == str(jane)
    case = context.case
    assert (case.title, case.status, case.priority, case.kind) == ("Printer jams", "open", "high", "ticket")
    search = next(r for r in zendesk.requests if r.path == "/api/v2/search.json")
    assert "type%3Auser+phone%3A%2A4155552671" in search.query or "type:user" in search.query


async def test_a_user_whose_number_only_looks_similar_is_not_the_caller(zendesk, crm):
    zendesk.add_user("Not Jane", "+44 20 4155 552671")  # ends in the same digits, another number
    assert await crm.find_customer(normalize_ani(JANE)) is None


async def test_only_resolved_tickets_means_no_case(zendesk, crm):
    jane = zendesk.add_user("Jane Doe", JANE)
    zendesk.add_ticket(jane, "Done", "closed", "2026-11-19T00:00:00Z")
    match = await crm.find_customer(normalize_ani(JANE))
    assert await crm.latest_case(match.customer) is None


async def test_several_users_with_the_number_pick_the_oldest_and_flag_it(zendesk, crm):
    zendesk.add_user("Jane New", JANE, created="2025-01-01T00:00:00Z")
    old = zendesk.add_user("Jane Old", "415.555.2671", created="2022-01-01T00:00:00Z")
    match = await crm.find_customer(normalize_ani(JANE))
    assert match.customer.id == str(old) and match.ambiguous


async def test_the_post_call_comment_is_private(zendesk, crm):
    jane = zendesk.add_user("Jane Doe", JANE)
    ticket = zendesk.add_ticket(jane, "Printer jams", "open", "2026-11-10T00:00:00Z")
    await crm.add_note(CallNote("CA1", "Voice bot call", "caller: agent please", str(jane), str(ticket), JANE))
    assert zendesk.comments[ticket] == [{"body": "caller: agent please", "public": False}]


async def test_a_ticket_is_opened_for_a_transferred_caller_without_one_when_configured(zendesk):
    crm = open_crm(settings(zendesk, create_ticket_for_unknown=True), "")
    await crm.add_note(CallNote("CA2", "Voice bot call", "caller: hello", None, None, JANE, create_case=True))
    [ticket] = zendesk.tickets
    assert ticket["subject"] == f"Phone call from {JANE}"
    assert zendesk.comments[ticket["id"]][0]["public"] is False
    await crm.close()


async def test_without_the_setting_no_ticket_is_opened(zendesk, crm):
    await crm.add_note(CallNote("CA3", "Voice bot call", "caller: hello", None, None, JANE, create_case=True))
    assert zendesk.tickets == []


async def test_oauth_bearer_works_too(zendesk):
    zendesk.oauth_token = "oauth-abc"
    crm = open_crm(settings(zendesk, email="", api_token=None, oauth_token="oauth-abc"), "")
    zendesk.add_user("Jane Doe", JANE)
    assert (await crm.find_customer(normalize_ani(JANE))) is not None
    await crm.close()


async def test_wrong_credentials_fail_at_once_without_retries(zendesk):
    crm = open_crm(settings(zendesk, api_token="wrong"), "")
    with pytest.raises(CRMHTTPError) as failed:
        await crm.find_customer(normalize_ani(JANE))
    assert failed.value.status == 401 and not failed.value.retryable
    assert len(zendesk.requests) == 1
    await crm.close()


async def test_throttled_search_is_retried_after_the_hinted_delay(zendesk, crm):
    zendesk.add_user("Jane Doe", JANE)
    zendesk.fail_next(429, headers={"Retry-After": "0.2"}, body={"error": "APIRateLimitExceeded"})
    assert (await crm.find_customer(normalize_ani(JANE))) is not None
    assert len(zendesk.requests) == 2


async def test_search_unavailable_makes_the_caller_go_to_an_agent_not_wait(zendesk, crm):
    zendesk.fail_next(503, times=10, body={"error": "SearchUnavailable"})
    context = await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert context.crm_status == "unavailable" and "503" in context.crm_error


async def test_urls_for_the_agent(zendesk, crm):
    jane = zendesk.add_user("Jane Doe", JANE)
    ticket = zendesk.add_ticket(jane, "Printer jams", "open", "2026-11-10T00:00:00Z")
    context = await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert crm.case_url(context.case) == f"{zendesk.url}/agent/tickets/{ticket}"
    assert crm.customer_url(context.customer) == f"{zendesk.url}/agent/users/{jane}"
    assert crm.new_case_url(None, normalize_ani(JANE)) == f"{zendesk.url}/agent/tickets/new/1"


def outbox_for(path, crm) -> Outbox:
    async def write(payload):
        await crm.add_note(CallNote(**payload))

    return Outbox(SQLiteOutboxStore(path), {"crm_note": write}, backoff_base_secs=0.05, backoff_max_secs=0.2)


async def test_notes_written_during_an_outage_arrive_when_zendesk_recovers(zendesk, crm, tmp_path):
    jane = zendesk.add_user("Jane Doe", JANE)
    ticket = zendesk.add_ticket(jane, "Printer jams", "open", "2026-11-10T00:00:00Z")
    zendesk.fail_next(503, times=1000)
    box = outbox_for(tmp_path / "o.sqlite3", crm)
    box.start()
    note = CallNote("CA9", "Voice bot call", "caller: still broken", str(jane), str(ticket), JANE)
    await box.enqueue("crm_note", asdict(note))

    async def tried_a_few_times():
        return sum(r.method == "PUT" for r in zendesk.requests) >= 8

    await until(tried_a_few_times)
    assert zendesk.comments[ticket] == []
    [item] = await box.items("pending")
    assert item.attempts < 12  # an open circuit does not use up attempts
    zendesk.heal()

    async def delivered():
        return (await box.counts())["done"] == 1

    await until(delivered, timeout=15)
    assert zendesk.comments[ticket] == [{"body": "caller: still broken", "public": False}]
    await box.aclose()


async def test_pending_notes_survive_a_restart(zendesk, tmp_path):
    jane = zendesk.add_user("Jane Doe", JANE)
    ticket = zendesk.add_ticket(jane, "Printer jams", "open", "2026-11-10T00:00:00Z")
    zendesk.fail_next(503, times=1000)
    crm = open_crm(settings(zendesk), "")
    first = outbox_for(tmp_path / "o.sqlite3", crm)
    first.start()
    await first.enqueue("crm_note", asdict(CallNote("CA10", "s", "caller: restart", str(jane), str(ticket), JANE)))

    async def attempted():
        return any(i.attempts >= 1 for i in await first.items("pending"))

    await until(attempted)
    await first.aclose()
    await crm.close()
    zendesk.heal()

    crm = open_crm(settings(zendesk), "")  # a new process: new client, same outbox file
    second = outbox_for(tmp_path / "o.sqlite3", crm)
    second.start()

    async def delivered():
        return (await second.counts())["done"] == 1

    await until(delivered, timeout=15)
    assert zendesk.comments[ticket][0]["body"] == "caller: restart"
    await second.aclose()
    await crm.close()


async def test_a_comment_on_a_deleted_ticket_is_parked_not_retried_forever(zendesk, crm, tmp_path):
    box = outbox_for(tmp_path / "o.sqlite3", crm)
    box.start()
    await box.enqueue("crm_note", asdict(CallNote("CA11", "s", "caller: hi", "1", "999999", JANE)))

    async def parked():
        return (await box.counts())["parked"] == 1

    await until(parked)
    [item] = await box.items("parked")
    assert "404" in item.last_error and item.attempts == 1
    await box.aclose()


async def test_concurrent_look_ups_do_not_interfere(zendesk):
    crm = open_crm(settings(zendesk, timeout=10.0), "")
    for i in range(5):
        zendesk.add_user(f"User {i}", f"+1415555010{i}")
    matches = await asyncio.gather(*(crm.find_customer(normalize_ani(f"+1415555010{i}")) for i in range(5)))
    await crm.close()
    assert [m.customer.name for m in matches] == [f"User {i}" for i in range(5)]


GARBAGE = [
    "<html><body>Service Unavailable</body></html>",  # a proxy's error page, as a JSON string
    [],
    {"results": "nope"},
    {"results": [{"id": None, "phone": 5}]},
    {"users": [{"id": 1}], "count": "many"},
    None,  # an empty 200
]


@pytest.mark.parametrize("body", GARBAGE)
async def test_a_garbage_answer_is_an_unavailable_crm_not_a_crash(zendesk, crm, body):
    zendesk.add_user("Jane Doe", "+1 (415) 555-2671")
    zendesk.fail_next(200, 10, body=body)
    context = await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert context.customer is None and context.crm_status in ("unavailable", "not_found"), context
