"""The cluster-wide view through a real Redis: every live process with its calls; a dead one drops out by itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from voicebot.server.calls import NodeStatus
from voicebot.storage.records import utcnow
from voicebot.storage.redis.nodes import NodeBeacon


async def test_every_process_is_seen_with_its_calls_and_a_silent_one_leaves_after_its_lease(redis_server):
    prefix = f"test:{uuid.uuid4().hex}:"

    def node(name: str, calls: int, draining: bool) -> Callable[[], NodeStatus]:
        return lambda: NodeStatus(name, calls, 32, draining, utcnow())  # two machines, played by this test

    a = NodeBeacon(redis_server.url, node("this-host:1", 3, False), prefix=prefix, beat_secs=0.1, lease_secs=1)
    b = NodeBeacon(redis_server.url, node("other-host:4242", 5, True), prefix=prefix, beat_secs=0.1, lease_secs=1)
    beats = [asyncio.create_task(a.beat()), asyncio.create_task(b.beat())]
    try:
        await asyncio.sleep(0.3)
        seen = {n.node: n for n in await a.nodes()}
        assert set(seen) == {a.node, b.node}
        assert seen[a.node].calls_in_progress == 3 and not seen[a.node].draining
        assert seen[b.node].calls_in_progress == 5 and seen[b.node].draining
        beats[1].cancel()  # b dies without a word (as kill -9 would leave it)
        await asyncio.sleep(1.5)
        assert [n.node for n in await a.nodes()] == [a.node]
    finally:
        for beat in beats:
            beat.cancel()
        await asyncio.gather(*beats, return_exceptions=True)
        await a.aclose()
        assert await b.nodes() == []  # a clean exit leaves the view at once
        await b.aclose()
