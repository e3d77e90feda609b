"""Two voicebot nodes on one PostgreSQL and one Redis serve calls interchangeably, and survive losing one.

Each node is a ``voicebot serve`` process with its own data directory; what they
share is ``store.url`` (call records, the outbox, node leases and the embedded
CRM's tables) and ``events.url`` (live events). The post-call notes are read
from the CRM's ``notes`` table, where each must be once.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from tests.e2e.conftest import start_server, stop_server
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
LEASE_SECS = 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server, redis_server):
    url = postgres_server.new_database()
    env = {
        "VOICEBOT_STORE__URL": url,
        "VOICEBOT_STORE__NODE_LEASE_SECS": str(LEASE_SECS),
        "VOICEBOT_EVENTS__URL": redis_server.url,
    }
    a = start_server(tmp_path_factory.mktemp("node-a"), env)
    b = start_server(tmp_path_factory.mktemp("node-b"), env)
    yield {"a": a, "b": b, "url": url}
    for proc, log, _ in (a, b):
        if proc.poll() is None:
            stop_server(proc, log)


def after_stream(node: dict, call_sid: str) -> str:
    return httpx.post(f"{node['http']}/twilio/after-stream", data={"CallSid": call_sid}).text


def told(node: dict, call_id: str) -> str:
    """What the node knows of a call, for a failed check: its record and its log lines about it."""
    record = httpx.get(f"{node['http']}/api/calls/{call_id}").text
    lines = [line for line in node["log"].read_text().splitlines() if call_id in line]
    return "\n".join([record, *lines])


def notes_about(cluster: dict, call_id: str) -> list[dict]:
    with psycopg.connect(cluster["url"], row_factory=dict_row) as db:
        return db.execute("SELECT * FROM notes WHERE call_id = %s", (call_id,)).fetchall()


async def wait_until(predicate, timeout: float):
    """``predicate`` is polled in a thread: it may block (a database query) without stalling the caller's loop."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


async def test_any_node_answers_for_a_call_another_node_held(cluster, caller_voice):
    a, b = cluster["a"][2], cluster["b"][2]
    async with TwilioCaller(a["ws"], caller=JANE) as done:
        await done.wait_for_prompts(1)
        await done.say(caller_voice.synthesize("No thanks, that's all."))
        await done.wait_closed(30)
    async with TwilioCaller(b["ws"], caller=JANE) as handed:
        await handed.wait_for_prompts(1)
        await handed.say(caller_voice.synthesize("I would like to talk to a person, please."))
        await handed.wait_closed(30)

    # Twilio's after-stream request may reach either node: each answers for both calls.
    for node in (a, b):
        assert "<Hangup/>" in after_stream(node, done.call_sid), told(node, done.call_sid)
        assert "support</Enqueue>" in after_stream(node, handed.call_sid), told(node, handed.call_sid)
    record = httpx.get(f"{b['http']}/api/calls/{done.call_sid}").json()
    assert record["outcome"] == "completed" and record["node"] is not None
    assert record["node"] != httpx.get(f"{a['http']}/api/calls/{handed.call_sid}").json()["node"]
    # One CRM for both nodes: Jane was found on each, and each call's note is on her case once.
    assert record["case"]["number"] == "CAS-01234"
    await wait_until(lambda: len(notes_about(cluster, handed.call_sid)) >= 1, 15)
    await wait_until(lambda: len(notes_about(cluster, done.call_sid)) >= 1, 15)
    [done_note], [handed_note] = notes_about(cluster, done.call_sid), notes_about(cluster, handed.call_sid)
    assert done_note["case_id"] == handed_note["case_id"] == record["case"]["id"]
    case_page = httpx.get(f"{a['http']}/crm/cases/{record['case']['id']}").text  # node A's page shows B's note
    assert f"Voice bot call {handed.call_sid}" in case_page


def batch_notes(cluster: dict) -> list[str]:
    with psycopg.connect(cluster["url"]) as db:
        return [row[0] for row in db.execute("SELECT call_id FROM notes WHERE call_id LIKE 'CA-batch-%%'")]


async def test_forty_notes_stored_at_once_are_delivered_exactly_once_between_the_nodes(cluster):
    note = {"subject": "Voice bot call", "customer_id": "cust-jane", "case_id": None}
    with psycopg.connect(cluster["url"]) as db:  # an operator's batch, e.g. replayed from a backup
        db.cursor().executemany(
            "INSERT INTO outbox (kind, payload) VALUES ('crm_note', %s::jsonb)",
            [(json.dumps({**note, "call_id": f"CA-batch-{n}", "body": f"batch note {n}"}),) for n in range(40)],
        )
    await wait_until(lambda: len(batch_notes(cluster)) >= 40, 30)
    await asyncio.sleep(1)  # time for a duplicate to show, if there were one
    assert sorted(batch_notes(cluster)) == sorted(f"CA-batch-{n}" for n in range(40))
    with psycopg.connect(cluster["url"]) as db:
        rows = db.execute("SELECT status, claimed_by, count(*) FROM outbox WHERE payload->>'call_id' LIKE 'CA-batch-%%'"
                          " GROUP BY status, claimed_by").fetchall()  # fmt: skip
    assert {status for status, _, _ in rows} == {"done"} and sum(n for _, _, n in rows) == 40
    print("delivered by:", {node: n for _, node, n in rows})


async def test_a_node_killed_mid_call_has_its_call_closed_and_noted_by_the_survivor(cluster, caller_voice):
    proc_a, log_a, a = cluster["a"]
    b = cluster["b"][2]
    async with TwilioCaller(a["ws"], caller=JANE) as cut_off:
        await cut_off.wait_for_prompts(1)
        await cut_off.say(caller_voice.synthesize("What is the status of my case?"))
        await cut_off.wait_for_prompts(2)  # the bot has answered: both turns are stored
        proc_a.kill()
        await asyncio.to_thread(proc_a.wait, 10)
        log_a.close()
        await cut_off.wait_closed(10)
    killed_at = time.monotonic()

    def closed() -> bool:
        return httpx.get(f"{b['http']}/api/calls/{cut_off.call_sid}").json()["outcome"] is not None

    await wait_until(closed, 4 * LEASE_SECS + 5)
    closed_after = time.monotonic() - killed_at
    record = httpx.get(f"{b['http']}/api/calls/{cut_off.call_sid}").json()
    assert (record["outcome"], record["outcome_reason"]) == ("error", "server_stopped")
    said = [t["text"] for t in record["turns"] if t["role"] == "caller"]
    assert said and "status" in said[-1].lower()
    assert [t["role"] for t in record["turns"][:3]] == ["bot", "caller", "bot"]
    await wait_until(lambda: len(notes_about(cluster, cut_off.call_sid)) >= 1, 15)
    [note] = notes_about(cluster, cut_off.call_sid)
    assert "server stopped" in note["body"] and said[-1] in note["body"]

    def one_node_left() -> bool:
        return len(httpx.get(f"{b['http']}/api/nodes").json()["nodes"]) == 1

    # Node A's heartbeat runs out too: its key in Redis is on a clock of its own (one lease after its last
    # beat there), which may end a beat after the store's lease that let node B close the call.
    await wait_until(one_node_left, LEASE_SECS + 2)
    print(f"node A's call closed by node B {closed_after:.1f} s after the kill (lease {LEASE_SECS} s)")
