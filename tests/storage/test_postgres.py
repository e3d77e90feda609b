"""PostgreSQL as several nodes share it: the schema applied once, node leases, a dead node's calls closed once."""

from __future__ import annotations

import asyncio
import threading

import psycopg
import pytest

from voicebot.config import ConfigError
from voicebot.server.recovery import close_interrupted_calls
from voicebot.storage.outbox import Outbox
from voicebot.storage.postgres.migrations import MIGRATIONS, SchemaError, migrate
from voicebot.storage.postgres.nodes import NodeLeases
from voicebot.storage.postgres.outbox import PostgresOutboxStore
from voicebot.storage.postgres.records import PostgresCallStore
from voicebot.storage.records import Turn, utcnow


@pytest.fixture
def url(postgres_server) -> str:
    return postgres_server.new_database()


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_an_empty_database_gets_the_whole_schema_and_a_second_start_changes_nothing(url):
    assert migrate(url) == (0, len(MIGRATIONS))
    assert migrate(url) == (len(MIGRATIONS), len(MIGRATIONS))
    assert versions(url) == list(range(1, len(MIGRATIONS) + 1))


def test_nodes_starting_at_once_apply_each_migration_once(url):
    results, errors = [], []

    def start():
        try:
            results.append(migrate(url))
        except Exception as exc:  # collected: a failure in any thread fails the test
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(results) == [(0, len(MIGRATIONS))] + [(len(MIGRATIONS), len(MIGRATIONS))] * 5
    assert versions(url) == list(range(1, len(MIGRATIONS) + 1))


def test_a_database_of_the_previous_version_is_upgraded_with_its_data_kept(url):
    """Version 1 (call records, outbox, leases) as the release before left it; version 2 adds the CRM's tables."""
    assert migrate(url, MIGRATIONS[:1]) == (0, 1)
    with psycopg.connect(url) as db:
        db.execute("INSERT INTO calls (id, platform, started_at) VALUES ('CA-old', 'twilio', now())")
    assert migrate(url) == (1, len(MIGRATIONS))
    with psycopg.connect(url) as db:
        assert db.execute("SELECT id FROM calls").fetchall() == [("CA-old",)]
        assert db.execute("SELECT count(*) FROM customers").fetchone() == (0,)


def test_a_database_newer_than_this_voicebot_is_refused_with_one_line(url):
    migrate(url, (*MIGRATIONS, "SELECT 1"))
    with pytest.raises(SchemaError, match=f"schema version {len(MIGRATIONS) + 1}; this voicebot knows up to"):
        migrate(url)


def test_a_wrong_password_stops_start_up_with_one_line_that_hides_it(postgres_server):
    wrong = postgres_server.url("postgres").replace(":s3cret-pg@", ":not-it@")
    with pytest.raises(ConfigError) as refused:
        PostgresCallStore(wrong, "node-a")
    message = str(refused.value)
    assert message.startswith("store.url: cannot use PostgreSQL at 127.0.0.1:")
    assert "password authentication failed" in message and "not-it" not in message and "\n" not in message


async def a_call_on(store: PostgresCallStore, call_id: str) -> None:
    await store.start_call(call_id, "twilio", None, "+14155552671", "+14155552671", None)
    await store.add_turn(call_id, Turn("caller", f"words of {call_id}", utcnow()))


async def test_a_live_nodes_calls_are_left_alone_and_a_dead_nodes_are_adopted_once(url):
    leases = [NodeLeases(url, "node-a", lease_secs=0.6)] + [
        NodeLeases(url, n, lease_secs=30) for n in ("node-b", "node-c")
    ]
    a, b, c = (PostgresCallStore(url, n) for n in ("node-a", "node-b", "node-c"))
    for lease in leases:
        await lease.renew()
    for n in range(20):
        await a_call_on(a, f"CA-{n}")
    assert await b.orphans() == [] and await c.orphans() == []  # node A holds its lease

    await asyncio.sleep(0.8)  # node A stops renewing: its lease runs out
    by_b, by_c = await asyncio.gather(b.orphans(), c.orphans())
    adopted_b, adopted_c = {r.call_id for r in by_b}, {r.call_id for r in by_c}
    assert adopted_b | adopted_c == {f"CA-{n}" for n in range(20)} and not adopted_b & adopted_c
    assert all(r.node in ("node-b", "node-c") for r in by_b + by_c)
    assert await b.orphans() == [] and await c.orphans() == []  # adopted: they belong to live nodes now
    for closable in (a, b, c, *leases):
        await closable.aclose()


async def test_a_survivor_closes_a_dead_nodes_call_and_queues_its_note_once(url):
    a_lease, b_lease = NodeLeases(url, "node-a", lease_secs=0.5), NodeLeases(url, "node-b", lease_secs=30)
    a, b = PostgresCallStore(url, "node-a"), PostgresCallStore(url, "node-b")
    await a_lease.renew()
    await b_lease.renew()
    await a_call_on(a, "CA-cut")
    outbox = Outbox(PostgresOutboxStore(url, "node-b"), {}, kinds=("crm_note",))
    assert await close_interrupted_calls(b, outbox) == 0
    assert sorted(await b_lease.alive()) == ["node-a", "node-b"]

    await asyncio.sleep(0.7)
    assert await b_lease.alive() == ["node-b"]
    assert await close_interrupted_calls(b, outbox) == 1
    assert await close_interrupted_calls(b, outbox) == 0
    record = await b.get("CA-cut")
    assert (record.outcome, record.outcome_reason, record.node) == ("error", "server_stopped", "node-b")
    [note] = await outbox.items("pending")
    assert note.payload["call_id"] == "CA-cut" and "words of CA-cut" in note.payload["body"]
    await b_lease.release()
    assert await a_lease.alive() == []
    for closable in (a, b, outbox, a_lease, b_lease):
        await closable.aclose()


async def test_an_item_stored_by_another_node_wakes_this_one_at_once(url):
    delivered = asyncio.Event()

    async def note(payload):
        delivered.set()

    listening = Outbox(PostgresOutboxStore(url, "node-b"), {"crm_note": note}, idle_secs=600)
    listening.start()
    await asyncio.sleep(0.5)  # node B has looked, found nothing, and waits up to ten minutes
    other = Outbox(PostgresOutboxStore(url, "node-a"), {}, kinds=("crm_note",))
    await other.enqueue("crm_note", {"call_id": "CA-1"})  # node A stores it and does not deliver
    await asyncio.wait_for(delivered.wait(), 5)
    await other.aclose()
    await listening.aclose()
