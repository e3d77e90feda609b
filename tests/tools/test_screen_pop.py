"""Screen pops: valid against the published schema, signed, delivered with retries."""

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from tests.http_receiver import HTTPReceiver
from voicebot.storage.outbox import PermanentError
from voicebot.storage.records import CallInfo, Turn
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import Case, Customer
from voicebot.tools.crm.local import LocalCRM
from voicebot.tools.lookup import CallerContext
from voicebot.tools.screen_pop import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    ScreenPopWebhook,
    build_screen_pop,
    sign,
    verify,
)
from voicebot.tools.transfer import TransferTarget

SCHEMA = json.loads((Path(__file__).parents[2] / "voicebot/schemas/screen_pop.v1.json").read_text())
NOW = datetime(2026, 11, 20, tzinfo=UTC)
JANE = Customer("cust-jane", "Jane Doe", "Jane", "jane@example.com", ("(415) 555-2671",))
CASE = Case("case-1", "CAS-01234", "Router drops", "In progress", "cust-jane", NOW, NOW)
CALL = CallInfo("CA1", "twilio", "MZ1", "+18005550100", "2026-11-21T10:00:00.000+00:00")


def pop(context, action="open_case", tmp_path=Path("/tmp")):
    """The pop as the webhook, the call record and the agent desktop get it."""
    crm = LocalCRM(tmp_path / "pop.sqlite3", "http://bot.example")
    return build_screen_pop(
        call=CALL,
        context=context,
        crm=crm,
        reason="caller_requested_agent",
        action=action,
        transfer=TransferTarget("enqueue", "support"),
        transcript=[Turn("bot", "Hi Jane", "t0"), Turn("caller", "agent please", "t1")],
        intents=["agent"],
    ).to_json()


def test_known_caller_pop_opens_the_case_and_is_schema_valid(tmp_path):
    payload = pop(CallerContext(normalize_ani("+14155552671"), JANE, CASE, 1), tmp_path=tmp_path)
    jsonschema.validate(payload, SCHEMA)
    assert payload["schema"] == "voicebot.screen_pop/v1"
    assert payload["action"] == {"type": "open_case", "url": "http://bot.example/crm/cases/case-1"}
    assert payload["call"]["ani"] == {"raw": "+14155552671", "e164": "+14155552671", "national": "4155552671"}
    assert "Jane Doe called about case CAS-01234" in payload["summary"]
    assert '"agent please"' in payload["summary"]


def test_unknown_caller_pop_is_a_new_case_form(tmp_path):
    payload = pop(CallerContext(normalize_ani("anonymous"), crm_status="skipped"), tmp_path=tmp_path)
    jsonschema.validate(payload, SCHEMA)
    assert payload["action"]["type"] == "new_case_form"
    assert payload["customer"] is None and payload["case"] is None


def test_open_case_without_a_case_falls_back_to_a_new_case_form(tmp_path):
    payload = pop(CallerContext(normalize_ani("+14155552671"), JANE, None, 1), tmp_path=tmp_path)
    assert payload["action"]["type"] == "new_case_form"
    assert "customer_id=cust-jane" in payload["action"]["url"]


def test_crm_outage_is_explained_to_the_agent(tmp_path):
    payload = pop(
        CallerContext(normalize_ani("+14155552671"), crm_status="unavailable", crm_error="timed out after 1.5s"),
        tmp_path=tmp_path,
    )
    jsonschema.validate(payload, SCHEMA)
    assert payload["crm"]["status"] == "unavailable"
    assert "CRM was unavailable (timed out after 1.5s)" in payload["summary"]


def test_schema_rejects_a_pop_without_action(tmp_path):
    payload = pop(CallerContext(normalize_ani("+14155552671"), JANE, CASE, 1), tmp_path=tmp_path)
    del payload["action"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(payload, SCHEMA)


def test_signature_is_hmac_sha256_of_the_timestamp_and_the_body():
    import hashlib
    import hmac

    assert sign(b"{}", "k", 1700000000) == "sha256=" + hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    signature = sign(b"{}", "k", 1700000000)
    assert verify(b"{}", "k", signature, "1700000000", now=1700000010)
    assert not verify(b"{ }", "k", signature, "1700000000", now=1700000010)  # another body
    assert not verify(b"{}", "k", signature, "1700000001", now=1700000010)  # another time


def test_a_replayed_pop_is_refused_once_it_is_old():
    signature = sign(b"{}", "k", 1700000000)
    assert verify(b"{}", "k", signature, "1700000000", now=1700000000 + 300)
    assert not verify(b"{}", "k", signature, "1700000000", now=1700000000 + 301)
    assert not verify(b"{}", "k", signature, "not-a-time")


async def test_webhook_post_is_signed_and_raises_on_failure():
    receiver = HTTPReceiver(status=lambda n: 503 if n == 1 else 204)
    webhook = ScreenPopWebhook(receiver.url, "s3cret")
    with pytest.raises(RuntimeError, match="503"):
        await webhook.post({"id": "p1"})
    await webhook.post({"id": "p1"})
    assert all(
        verify(r["body"], "s3cret", r["headers"][SIGNATURE_HEADER], r["headers"][TIMESTAMP_HEADER])
        for r in receiver.requests
    )
    await webhook.aclose()
    receiver.close()


async def test_a_rejected_pop_is_a_permanent_error_but_throttling_is_not():
    receiver = HTTPReceiver(status=lambda n: 400 if n == 1 else 429)
    webhook = ScreenPopWebhook(receiver.url, None)
    with pytest.raises(PermanentError):
        await webhook.post({"id": "p2"})
    with pytest.raises(RuntimeError) as throttled:
        await webhook.post({"id": "p2"})
    assert not isinstance(throttled.value, PermanentError)
    await webhook.aclose()
    receiver.close()
