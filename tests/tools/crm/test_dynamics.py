"""Dynamics 365 / Dataverse against a loopback stand-in that checks auth, headers and OData syntax."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.standins.dataverse import CLIENT_ID, CLIENT_SECRET, TENANT, Dataverse
from voicebot.config import load_settings
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import CallNote, open_crm
from voicebot.tools.crm.dynamics import odata_string
from voicebot.tools.crm.http import CircuitOpenError, CRMHTTPError
from voicebot.tools.lookup import look_up_caller

JANE = "+14155552671"


@pytest.fixture
def dataverse():
    standin = Dataverse()
    yield standin
    standin.close()


def settings(dataverse: Dataverse, **crm):
    return load_settings(
        environ={},
        crm={
            "backend": "dynamics",
            "request_timeout_secs": 0.5,
            "breaker_failures": 3,
            "breaker_reset_secs": 0.5,
            **crm,
            "dynamics": {
                "org_url": dataverse.url,
                "authority_url": dataverse.url,
                "tenant_id": TENANT,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "app_id": "app-123",
                **crm.get("dynamics", {}),
            },
        },
    )


@pytest.fixture
async def crm(dataverse):
    crm = open_crm(settings(dataverse), "http://bot.example")
    yield crm
    await crm.close()


async def test_contact_found_by_e164_with_its_latest_active_case(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    dataverse.add_incident("CAS-00877", "Billing", "2026-08-02T11:00:00Z", customer=jane, statecode=1, statuscode=5)
    dataverse.add_incident("CAS-01234", "Router drops", "2026-11-18T09:12:00Z", customer=jane, statuscode=3)
    context = await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert context.crm_status == "ok" and context.customer.id == jane and context.customer.first_name == "Jane"
    assert (context.case.number, context.case.status, context.case.is_open) == (
        "CAS-01234",
        "Waiting for Details",
        True,
    )


async def test_formatted_numbers_match_and_plus_is_sent_as_percent_2b(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", mobilephone="(415) 555-2671")
    match = await crm.find_customer(normalize_ani(JANE))
    assert match.customer.id == jane
    query = dataverse.requests[-1].query
    assert "%2B14155552671" in query and "+" not in query
    assert "mobilephone%20eq%20'(415)%20555-2671'" in query


async def test_no_match_is_none(dataverse, crm):
    dataverse.add_contact("Someone Else", telephone1="+14155550000")
    assert await crm.find_customer(normalize_ani(JANE)) is None


async def test_several_matches_pick_the_oldest_contact_and_flag_it(dataverse, crm):
    dataverse.add_contact("Jane Newer", created="2025-05-01T00:00:00Z", telephone1=JANE)
    older = dataverse.add_contact("Jane Older", created="2023-05-01T00:00:00Z", telephone2="415-555-2671")
    match = await crm.find_customer(normalize_ani(JANE))
    assert match.customer.id == older and match.candidates == 2 and match.ambiguous


async def test_a_case_on_an_account_is_found_through_its_primary_contact(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    account = "0f8fad5b-d9cb-469f-a165-70867728950e"
    dataverse.add_incident("CAS-02000", "Office outage", "2026-11-20T08:00:00Z", customer=account, primary_contact=jane)
    match = await crm.find_customer(normalize_ani(JANE))
    assert (await crm.latest_case(match.customer)).number == "CAS-02000"


async def test_prefer_active_falls_back_to_the_newest_closed_case(dataverse):
    crm = open_crm(settings(dataverse, dynamics={"cases": "prefer_active"}), "")
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    dataverse.add_incident("CAS-1", "Old", "2026-01-01T00:00:00Z", customer=jane, statecode=1, statuscode=5)
    match = await crm.find_customer(normalize_ani(JANE))
    case = await crm.latest_case(match.customer)
    assert case.number == "CAS-1" and not case.is_open
    await crm.close()


async def test_by_default_a_resolved_case_is_not_the_callers_open_case_as_on_every_back_end(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    dataverse.add_incident("CAS-1", "Old", "2026-01-01T00:00:00Z", customer=jane, statecode=1, statuscode=5)
    match = await crm.find_customer(normalize_ani(JANE))
    assert await crm.latest_case(match.customer) is None
    assert "statecode%20eq%200" in dataverse.requests[-1].query
    await crm.close()


def test_quotes_in_literals_are_doubled():
    assert odata_string("O'Brien") == "'O''Brien'"


async def test_the_token_is_fetched_once_and_shared_by_concurrent_calls(dataverse):
    # Ten requests at once on a loaded machine may take longer than the fixture's 0.5 s timeout, which is for
    # the timeout tests; a timeout here would open the breaker and say nothing about the token.
    crm = open_crm(settings(dataverse, request_timeout_secs=10.0), "http://bot.example")
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await asyncio.gather(*(crm.find_customer(normalize_ani(JANE)) for _ in range(10)))
    await crm.find_customer(normalize_ani(JANE))
    await crm.close()
    assert dataverse.token_requests == 1


async def test_a_token_rejected_mid_run_is_refreshed_once_and_the_request_retried(dataverse, crm):
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.find_customer(normalize_ani(JANE))
    dataverse.revoke_tokens()  # the token expired server-side before we expected
    assert (await crm.find_customer(normalize_ani(JANE))).customer.name == "Jane Doe"
    assert dataverse.token_requests == 2


async def test_a_short_lived_token_is_renewed_before_it_expires(dataverse, crm):
    dataverse.expires_in = 1
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.find_customer(normalize_ani(JANE))
    await asyncio.sleep(1.0)
    await crm.find_customer(normalize_ani(JANE))
    assert dataverse.token_requests == 2


async def test_bad_client_credentials_are_a_clear_permanent_error(dataverse):
    crm = open_crm(settings(dataverse, dynamics={"client_secret": "wrong"}), "")
    with pytest.raises(CRMHTTPError, match="Entra ID refused") as refused:
        await crm.find_customer(normalize_ani(JANE))
    assert refused.value.retryable is False
    await crm.close()


async def test_throttling_honours_retry_after(dataverse, crm):
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.find_customer(normalize_ani(JANE))  # token
    dataverse.fail_next(429, headers={"Retry-After": "0.3"}, body={"error": {"code": "0x80072322", "message": "x"}})
    started = time.monotonic()
    assert (await crm.find_customer(normalize_ani(JANE))) is not None
    assert time.monotonic() - started >= 0.3


async def test_a_retry_after_past_the_budget_ends_the_look_up_at_once(dataverse, crm):
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    dataverse.fail_next(429, headers={"Retry-After": "1"})
    started = time.monotonic()
    context = await look_up_caller(crm, normalize_ani(JANE), 0.8)
    assert context.crm_status == "unavailable" and "429" in context.crm_error
    assert time.monotonic() - started < 0.5


async def test_server_errors_are_retried_with_backoff(dataverse, crm):
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.find_customer(normalize_ani(JANE))
    before = len(dataverse.requests)
    dataverse.fail_next(500, times=2, body={"error": {"code": "0x0", "message": "Generic SQL error."}})
    assert (await crm.find_customer(normalize_ani(JANE))) is not None
    assert len(dataverse.requests) - before == 3


async def test_client_errors_are_not_retried(dataverse, crm):
    await crm.find_customer(normalize_ani(JANE))
    before = len(dataverse.requests)
    dataverse.fail_next(403, body={"error": {"code": "0x80040220", "message": "no privilege"}})
    with pytest.raises(CRMHTTPError) as failed:
        await crm.find_customer(normalize_ani(JANE))
    assert failed.value.status == 403 and not failed.value.retryable
    assert len(dataverse.requests) - before == 1


async def test_a_slow_crm_leaves_the_caller_within_the_budget(dataverse, crm):
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.find_customer(normalize_ani(JANE))
    dataverse.delay = 3.0
    started = time.monotonic()
    context = await look_up_caller(crm, normalize_ani(JANE), 1.5)
    assert time.monotonic() - started < 1.8
    assert context.crm_status == "unavailable"


async def test_the_circuit_opens_on_repeated_failure_and_recovers_on_its_own(dataverse, crm):
    dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.find_customer(normalize_ani(JANE))
    dataverse.fail_next(503, times=50)
    with pytest.raises(CRMHTTPError):  # three attempts, three failures: the breaker opens
        await crm.find_customer(normalize_ani(JANE))
    sent = len(dataverse.requests)
    with pytest.raises(CircuitOpenError):
        await crm.find_customer(normalize_ani(JANE))
    assert len(dataverse.requests) == sent  # not even tried
    dataverse.heal()
    await asyncio.sleep(0.6)
    assert (await crm.find_customer(normalize_ani(JANE))).customer.name == "Jane Doe"


async def test_the_note_is_a_phone_call_activity_regarding_the_case(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    case = dataverse.add_incident("CAS-01234", "Router", "2026-11-18T09:12:00Z", customer=jane)
    await crm.add_note(CallNote("CA1", "Voice bot call: transferred", "caller: agent please", jane, case, JANE))
    [call] = dataverse.phonecalls
    assert call["regardingobjectid_incident_phonecall@odata.bind"] == f"/incidents({case})"
    assert call["directioncode"] is False and call["phonenumber"] == JANE and "agent please" in call["description"]


async def test_a_note_without_a_case_is_regarding_the_contact(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.add_note(CallNote("CA2", "Voice bot call: completed", "caller: bye", jane, None, JANE))
    [call] = dataverse.phonecalls
    assert call["regardingobjectid_contact_phonecall@odata.bind"] == f"/contacts({jane})"


async def test_the_stand_in_refuses_the_activity_base_types_navigation_property_as_the_web_api_does(dataverse):
    """phonecall declares ``regardingobjectid_incident_phonecall``; the base type's name is not one of its own."""
    token = httpx.post(
        f"{dataverse.url}/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": f"{dataverse.url}/.default",
        },
    ).json()["access_token"]
    case = "0f8fad5b-d9cb-469f-a165-70867728950e"
    refused = httpx.post(
        f"{dataverse.url}/api/data/v9.2/phonecalls",
        headers={"Authorization": f"Bearer {token}", "OData-Version": "4.0", "OData-MaxVersion": "4.0"},
        json={"subject": "x", "regardingobjectid_incident@odata.bind": f"/incidents({case})"},
    )
    assert refused.status_code == 400 and "undeclared property 'regardingobjectid_incident'" in refused.text


async def test_the_note_can_be_an_annotation(dataverse):
    crm = open_crm(settings(dataverse, dynamics={"note_kind": "annotation"}), "")
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    await crm.add_note(CallNote("CA1", "Voice bot call", "caller: hi", jane, None, JANE))
    [note] = dataverse.annotations
    assert note["objectid_contact@odata.bind"] == f"/contacts({jane})" and note["notetext"] == "caller: hi"
    await crm.close()


async def test_screen_pop_urls_open_the_case_the_contact_or_a_prefilled_new_case(dataverse, crm):
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    dataverse.add_incident("CAS-01234", "Router", "2026-11-18T09:12:00Z", customer=jane)
    match = await crm.find_customer(normalize_ani(JANE))
    case = await crm.latest_case(match.customer)
    base = f"{dataverse.url}/main.aspx?appid=app-123&pagetype=entityrecord"
    assert crm.case_url(case) == f"{base}&etn=incident&id={case.id}"
    assert crm.customer_url(match.customer) == f"{base}&etn=contact&id={jane}"
    new = crm.new_case_url(match.customer, normalize_ani(JANE))
    assert new.startswith(f"{base}&etn=incident&extraqs=")
    assert f"customerid%3D{jane}" in new and "customeridtype%3Dcontact" in new and "customeridname%3DJane%2BDoe" in new


GARBAGE = [
    "<html><body>Service Unavailable</body></html>",
    [],
    {"value": "nope"},
    {"value": [{"contactid": None, "fullname": 5}]},
    None,
]


@pytest.mark.parametrize("body", GARBAGE)
async def test_a_garbage_answer_is_an_unavailable_crm_not_a_crash(dataverse, crm, body):
    dataverse.fail_next(200, 10, body=body)
    context = await look_up_caller(crm, normalize_ani("+14155552671"), 1.5)
    assert context.customer is None and context.crm_status in ("unavailable", "not_found"), context
