"""The operator API over a real outbox: a parked item is put back in line by id, and only a parked one."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
from fastapi import FastAPI

from tests.storage.test_outbox import fast_outbox, until
from voicebot.server.routes import api
from voicebot.storage.outbox import PermanentError


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

    box = fast_outbox(tmp_path / "outbox.sqlite3", {"crm_note": note})
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
