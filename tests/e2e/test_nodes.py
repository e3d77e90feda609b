"""Two voicebot nodes (two ``voicebot serve`` processes, each with its own data directory) on one Redis.

What the agents see must not depend on which node a call landed on: a desktop
connected to node B follows a call held by node A, turn by turn, with its pop.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_workers import desktop_events
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory, redis_server):
    env = {"VOICEBOT_EVENTS__URL": redis_server.url}
    a = start_server(tmp_path_factory.mktemp("node-a"), env)
    b = start_server(tmp_path_factory.mktemp("node-b"), env)
    yield a[2], b[2]
    for proc, log, _ in (a, b):
        stop_server(proc, log)


async def test_a_desktop_on_one_node_follows_a_call_on_the_other(nodes, caller_voice):
    a, b = nodes
    seen: list[dict] = []
    ready = asyncio.Event()
    desk = asyncio.create_task(desktop_events(b["http"], seen, ready))
    await asyncio.wait_for(ready.wait(), 30)
    async with TwilioCaller(a["ws"], caller=JANE) as call:
        await call.wait_for_prompts(1)
        cluster = httpx.get(f"{b['http']}/api/nodes").json()  # asked of the node without the call
        assert len(cluster["nodes"]) == 2 and cluster["calls_in_progress"] == 1
        assert cluster["max_calls"] == 64  # two nodes at the default limits.max_calls
        await call.say(caller_voice.synthesize("I would like to talk to a person, please."))
        await call.wait_closed(30)
    async with asyncio.timeout(10):
        while not any(e["kind"] == "call_ended" and e["call_id"] == call.call_sid for e in seen):
            await asyncio.sleep(0.1)
    desk.cancel()
    await asyncio.gather(desk, return_exceptions=True)  # the desktop hangs up: nothing holds the node open
    mine = [e for e in seen if e["call_id"] == call.call_sid]
    kinds = [e["kind"] for e in mine]
    assert kinds[0] == "call_started" and kinds[-1] == "call_ended"
    assert any(e["kind"] == "turn" and e["role"] == "caller" for e in mine)
    [pop] = [e["pop"] for e in mine if e["kind"] == "screen_pop"]
    assert pop["customer"]["name"] == "Jane Doe" and pop["case"]["number"] == "CAS-01234"
