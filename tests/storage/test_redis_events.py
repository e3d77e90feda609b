"""Live call events across nodes through a real Redis: one node's calls reach every other node's desktops."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from voicebot.storage.events import CallEvents
from voicebot.storage.redis.events import RedisEventStream


@pytest.fixture
def stream_name() -> str:
    return f"test:{uuid.uuid4().hex}"  # each test its own stream on the shared server


async def node(redis_server, stream_name) -> tuple[CallEvents, RedisEventStream, asyncio.Task]:
    events = CallEvents()
    shared = RedisEventStream(redis_server.url, events, stream=stream_name)
    return events, shared, asyncio.create_task(shared.follow())


async def until(check, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.02)


async def stop(*nodes) -> None:
    for _, shared, follower in nodes:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await shared.aclose()


async def test_a_call_on_one_node_reaches_the_desktops_of_another(redis_server, stream_name):
    a = await node(redis_server, stream_name)
    b = await node(redis_server, stream_name)
    try:
        desk = b[0].subscribe()
        reading = asyncio.create_task(anext(desk))
        await asyncio.sleep(0.1)
        a[0].publish("call_started", "CA1", platform="twilio", state="identifying")
        a[0].publish("turn", "CA1", role="caller", text="an agent please")
        assert (await asyncio.wait_for(reading, 5))["kind"] == "call_started"
        await until(lambda: b[0].snapshot() and b[0].snapshot()[0]["transcript"])
        [call] = b[0].snapshot()
        assert call["call_id"] == "CA1" and call["platform"] == "twilio"
        assert call["transcript"] == [{"role": "caller", "text": "an agent please"}]
    finally:
        await stop(a, b)


async def test_another_node_sees_a_calls_events_in_the_order_they_happened(redis_server, stream_name):
    """Out of order, a transcript reads backwards and a call that ended shows as still talking."""
    a = await node(redis_server, stream_name)
    b = await node(redis_server, stream_name)
    try:
        a[0].publish("call_started", "CA5", platform="twilio", state="talking")
        for n in range(40):
            a[0].publish("turn", "CA5", role="caller", text=f"turn {n}")
        a[0].publish("call_ended", "CA5", state="ended", outcome="completed")
        await until(lambda: b[0].snapshot() and len(b[0].snapshot()[0]["transcript"]) == 40)
        [call] = b[0].snapshot()
        assert [t["text"] for t in call["transcript"]] == [f"turn {n}" for n in range(40)]
        await until(lambda: b[0].snapshot()[0]["state"] == "ended")
        await asyncio.sleep(0.2)
        assert b[0].snapshot()[0]["state"] == "ended"
    finally:
        await stop(a, b)


async def test_a_node_does_not_replay_its_own_events(redis_server, stream_name):
    a = await node(redis_server, stream_name)
    b = await node(redis_server, stream_name)
    try:
        a[0].publish("turn", "CA2", role="caller", text="hello")
        await until(lambda: b[0].snapshot())
        await asyncio.sleep(0.3)
        assert a[0].snapshot()[0]["transcript"] == [{"role": "caller", "text": "hello"}]  # once, not twice
    finally:
        await stop(a, b)


async def test_a_node_that_starts_late_shows_calls_already_in_progress(redis_server, stream_name):
    a = await node(redis_server, stream_name)
    try:
        a[0].publish("call_started", "CA3", platform="genesys", state="talking")
        await asyncio.sleep(0.2)
        late = await node(redis_server, stream_name)
        await until(lambda: late[0].snapshot())
        assert late[0].snapshot()[0]["call_id"] == "CA3"
    finally:
        await stop(a, late)


async def test_redis_going_away_never_touches_a_call_and_the_feed_resumes(redis_server, stream_name):
    a = await node(redis_server, stream_name)
    b = await node(redis_server, stream_name)
    try:
        redis_server.stop()
        a[0].publish("call_started", "CA4", platform="twilio", state="identifying")  # does not raise
        await asyncio.sleep(0.3)
        assert a[0].snapshot()[0]["call_id"] == "CA4"  # this node's own desktops still see it
        redis_server.start()
        a[0].publish("call_ended", "CA4", state="ended", outcome="completed")
        await until(lambda: b[0].snapshot() and b[0].snapshot()[0].get("state") == "ended", timeout=10)
    finally:
        await stop(a, b)
