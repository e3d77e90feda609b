"""PostgreSQL stopped mid-call: the call's writes and its post-call note wait in order and land when it is back.

A PostgreSQL server of its own (the shared one must not go away under other tests),
stopped and started for real.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.postgres_server import PostgresServer
from tests.storage.test_outbox import until
from voicebot.storage.outbox import Outbox
from voicebot.storage.postgres.outbox import PostgresOutboxStore
from voicebot.storage.postgres.records import PostgresCallStore
from voicebot.storage.records import Turn, utcnow
from voicebot.storage.write_behind import WriteBehind


@pytest.fixture
def postgres():
    server = PostgresServer()
    yield server
    server.close()


async def test_a_call_goes_on_through_an_outage_and_its_record_is_complete_after_it(postgres):
    url = postgres.new_database()
    store = WriteBehind(PostgresCallStore(url, "node-a"), retry_secs=0.2, patience_secs=0.5)
    await store.start_call("CA-1", "twilio", None, "+14155552671", "+14155552671", None)
    await store.add_turn("CA-1", Turn("bot", "Hi, Jane.", utcnow()))

    postgres.stop()
    started = time.monotonic()
    said = await store.add_turn("CA-1", Turn("caller", "my router", utcnow()))
    await store.update_turn(said, text="my router keeps dropping", latency_ms=420.0)
    intent = await store.add_event("CA-1", "intent", {"intent": "agent"})
    await store.relabel_events([intent], "intent_taken_back")
    await store.add_turn("CA-1", Turn("bot", "Let me get you an agent.", utcnow()))
    assert await store.finish("CA-1", "transferred", "caller_asked")
    assert time.monotonic() - started < 2.0  # the call waited once, for its patience, never for the database
    assert said < 0 and store.held == 6

    postgres.start()
    await until(lambda: asyncio.sleep(0, store.held == 0), timeout=20)
    record = await store.get("CA-1")
    assert [(t.role, t.text) for t in record.turns] == [
        ("bot", "Hi, Jane."),
        ("caller", "my router keeps dropping"),
        ("bot", "Let me get you an agent."),
    ]
    assert record.turns[1].latency_ms == 420.0
    assert [e.kind for e in record.events] == ["intent_taken_back"] and record.intents == []
    assert (record.outcome, record.outcome_reason) == ("transferred", "caller_asked")
    await store.aclose()


async def test_a_note_posted_during_an_outage_is_stored_and_delivered_when_the_database_is_back(postgres):
    url = postgres.new_database()
    delivered = []

    async def note(payload):
        delivered.append(payload)

    outbox = Outbox(PostgresOutboxStore(url, "node-a"), {"crm_note": note}, idle_secs=0.5)
    outbox.start()
    postgres.stop()
    started = time.monotonic()
    await outbox.post("crm_note", {"call_id": "CA-1"})
    await outbox.post("crm_note", {"call_id": "CA-2"})
    assert time.monotonic() - started < 2.0
    await asyncio.sleep(1)
    postgres.start()

    async def both_done():
        return (await outbox.counts())["done"] == 2

    await until(both_done, timeout=30)
    assert [p["call_id"] for p in delivered] == ["CA-1", "CA-2"]
    await outbox.aclose()


async def test_a_wrong_write_is_refused_at_once_not_held(tmp_path):
    from voicebot.storage.sqlite.records import SQLiteCallStore

    store = WriteBehind(SQLiteCallStore(tmp_path / "calls.sqlite3"))
    await store.start_call("CA-1", "twilio", None, None, None, None)
    turn = await store.add_turn("CA-1", Turn("caller", "hello", utcnow()))
    with pytest.raises(ValueError, match="turn fields to update must be among"):
        await store.update_turn(turn, colour="blue")
    assert store.held == 0 and turn > 0
    await store.aclose()
