"""Two voicebot nodes on one PostgreSQL and one Redis serve calls interchangeably, and survive losing one.

Each node is a ``voicebot serve`` process with its own data directory; what they
share is ``store.url`` (call records, the outbox, node leases) and ``events.url``
(live events). Zendesk, the CRM they both write to, is a stand-in on loopback.
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import psycopg
import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.standins.zendesk import API_TOKEN, EMAIL, Zendesk
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
LEASE_SECS = 2.0


@pytest.fixture(scope="module")
def zendesk():
    standin = Zendesk()
    jane = standin.add_user("Jane Doe", "+1 (415) 555-2671")
    standin.add_ticket(jane, "Printer jams on every page", "open", "2026-11-18T09:00:00Z")
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, postgres_server, redis_server, zendesk):
    url = postgres_server.new_database()
    env = {
        "VOICEBOT_STORE__URL": url,
        "VOICEBOT_STORE__NODE_LEASE_SECS": str(LEASE_SECS),
        "VOICEBOT_EVENTS__URL": redis_server.url,
        "VOICEBOT_CRM__BACKEND": "zendesk",
        "VOICEBOT_CRM__ZENDESK__BASE_URL": zendesk.url,
        "VOICEBOT_CRM__ZENDESK__EMAIL": EMAIL,
        "VOICEBOT_CRM__ZENDESK__API_TOKEN": API_TOKEN,
    }
    a = start_server(tmp_path_factory.mktemp("node-a"), env)
    b = start_server(tmp_path_factory.mktemp("node-b"), env)
    yield {"a": a, "b": b, "url": url}
    for proc, log, _ in (a, b):
        if proc.poll() is None:
            stop_server(proc, log)


def after_stream(node: dict, call_sid: str) -> str:
    return httpx.post(f"{node['http']}/twilio/after-stream", data={"CallSid": call_sid}).text


def comments_about(zendesk: Zendesk, call_sid: str) -> list[dict]:
    return [c for comments in zendesk.comments.values() for c in comments if call_sid in c["body"]]


async def wait_until(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.1)


async def test_any_node_answers_for_a_call_another_node_held(cluster, zendesk, caller_voice):
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
        assert "<Hangup/>" in after_stream(node, done.call_sid)
        assert "support</Enqueue>" in after_stream(node, handed.call_sid)
    record = httpx.get(f"{b['http']}/api/calls/{done.call_sid}").json()
    assert record["outcome"] == "completed" and record["node"].split(":")[1] != ""
    assert record["node"] != httpx.get(f"{a['http']}/api/calls/{handed.call_sid}").json()["node"]
    await wait_until(lambda: len(comments_about(zendesk, handed.call_sid)) >= 1, 15)
    await wait_until(lambda: len(comments_about(zendesk, done.call_sid)) >= 1, 15)
    assert len(comments_about(zendesk, done.call_sid)) == 1 and len(comments_about(zendesk, handed.call_sid)) == 1


async def test_forty_notes_stored_at_once_are_delivered_exactly_once_between_the_nodes(cluster, zendesk):
    [ticket] = zendesk.tickets
    note = {"subject": "Voice bot call", "customer_id": str(ticket["requester_id"]), "case_id": str(ticket["id"])}
    with psycopg.connect(cluster["url"]) as db:  # an operator's batch, e.g. replayed from a backup
        db.cursor().executemany(
            "INSERT INTO outbox (kind, payload) VALUES ('crm_note', %s::jsonb)",
            [
                (json.dumps({**note, "call_id": f"CA-batch-{n}", "body": f"batch note CA-batch-{n}."}),)
                for n in range(40)
            ],
        )
    await wait_until(lambda: sum(len(comments_about(zendesk, f"CA-batch-{n}.")) for n in range(40)) >= 40, 30)
    await asyncio.sleep(1)  # time for a duplicate to show, if there were one
    assert [len(comments_about(zendesk, f"CA-batch-{n}.")) for n in range(40)] == [1] * 40
    with psycopg.connect(cluster["url"]) as db:
        rows = db.execute("SELECT status, claimed_by, count(*) FROM outbox WHERE payload->>'call_id' LIKE 'CA-batch-%%'"
                          " GROUP BY status, claimed_by").fetchall()  # fmt: skip
    assert {status for status, _, _ in rows} == {"done"} and sum(n for _, _, n in rows) == 40
    print("delivered by:", {node: n for _, node, n in rows})


async def test_a_node_killed_mid_call_has_its_call_closed_and_noted_by_the_survivor(cluster, zendesk, caller_voice):
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
    await wait_until(lambda: len(comments_about(zendesk, cut_off.call_sid)) >= 1, 15)
    [note] = comments_about(zendesk, cut_off.call_sid)
    assert "server stopped" in note["body"] and said[-1] in note["body"]
    cluster_view = httpx.get(f"{b['http']}/api/nodes").json()
    assert len(cluster_view["nodes"]) == 1  # node A's heartbeat ran out too
    print(f"node A's call closed by node B {closed_after:.1f} s after the kill (lease {LEASE_SECS} s)")
