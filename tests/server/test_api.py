"""The operator API: a parked outbox item is put back in line by id, and only a parked one; the caller look-up."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from fastapi import FastAPI

from tests.storage.test_outbox import fast_outbox, until
from voicebot.config import load_settings
from voicebot.server.routes import api
from voicebot.storage.outbox import PermanentError
from voicebot.storage.sqlite.outbox import SQLiteOutboxStore
from voicebot.tools.crm.local import LocalCRM


def app_over(box) -> FastAPI:
    """The API router on an app whose runtime holds just the outbox (the routes here read nothing else)."""
    app = FastAPI()
    app.include_router(api.router)
    app.state.runtime = SimpleNamespace(services=SimpleNamespace(session=SimpleNamespace(outbox=box)))
    return app


async def test_a_parked_item_is_retried_on_request_and_delivered(tmp_path):
    attempts = []

    async def note(payload):
        attempts.append(payload)
        if len(attempts) == 1:
            raise PermanentError("ticket 42 was deleted")

    box = fast_outbox(SQLiteOutboxStore(tmp_path / "outbox.sqlite3"), {"crm_note": note})
    box.start()
    item_id = await box.enqueue("crm_note", {"call_id": "CA1"})

    async def parked():
        return (await box.counts())["parked"] == 1

    await until(parked)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app_over(box)), base_url="http://bot") as client:
        listed = (await client.get("/api/outbox", params={"status": "parked"})).json()
        assert [i["id"] for i in listed["items"]] == [item_id] and "deleted" in listed["items"][0]["last_error"]
        assert (await client.post(f"/api/outbox/{item_id}/retry")).json() == {"requeued": item_id}

        async def delivered():
            return (await box.counts())["done"] == 1

        await until(delivered)
        assert (await client.post(f"/api/outbox/{item_id}/retry")).status_code == 404  # delivered, not parked
        assert (await client.post("/api/outbox/999/retry")).status_code == 404
    await box.aclose()
    assert len(attempts) == 2


async def test_the_caller_look_up_answers_flat_always_present_fields_for_a_flows_json_paths(tmp_path):
    """``GET /api/lookup`` over the embedded CRM with its demo data, as Flow Designer's HTTP Request calls it."""
    crm = LocalCRM(tmp_path / "crm.sqlite3", "http://bot.example.com")
    crm.seed_demo()
    app = FastAPI()
    app.include_router(api.router)
    app.state.runtime = SimpleNamespace(settings=load_settings(environ={}), services=SimpleNamespace(
        session=SimpleNamespace(crm=crm)))  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bot") as client:
        jane = (await client.get("/api/lookup", params={"ani": "4155552671"})).json()  # as a flow strips the "+1"
        stranger = (await client.get("/api/lookup", params={"ani": "+15005550006"})).json()
        withheld = (await client.get("/api/lookup")).json()
    assert jane["found"] and jane["ani"] == "+14155552671" and jane["customer"]["name"] == "Jane Doe"
    assert jane["case"]["number"] == "CAS-01234" and jane["screenpop_url"].endswith(f"/crm/cases/{jane['case']['id']}")
    assert jane["route"] == {"mode": "enqueue", "target": "support", "reason": "caller_requested_agent"}
    for unknown in (stranger, withheld):
        assert unknown["found"] is False and unknown["route"]["reason"] == "unknown_caller"
        assert unknown["customer"] == {"id": "", "name": ""} and set(unknown["case"].values()) == {""}
        assert set(unknown) == set(jane)  # the same keys, always
    await crm.close()
