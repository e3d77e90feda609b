"""Live call events: what one server process publishes, every agent desktop sees."""

import asyncio

from voicebot.storage.events import CallEvents
from voicebot.storage.sqlite.events import EventLog


async def test_a_subscriber_sees_events_published_after_it_joined():
    events = CallEvents()
    received = []

    async def listen():
        async for event in events.subscribe():
            received.append(event)
            if event["kind"] == "call_ended":
                return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)
    events.publish("call_started", "CA1", state="bot")
    events.publish("turn", "CA1", role="caller", text="Agent please.")
    events.publish("call_ended", "CA1", state="ended")
    await asyncio.wait_for(listener, 2)
    assert [e["kind"] for e in received] == ["call_started", "turn", "call_ended"]
    assert events.snapshot()[0]["transcript"] == [{"role": "caller", "text": "Agent please."}]


async def test_events_cross_to_the_other_server_processes_through_the_log(tmp_path):
    """Two processes' event hubs on one log file, as ``voicebot serve --workers 2`` runs them."""
    here, there = CallEvents(), CallEvents()
    here_log, there_log = EventLog(tmp_path / "events.sqlite3", here), EventLog(tmp_path / "events.sqlite3", there)
    following = [asyncio.create_task(here_log.follow()), asyncio.create_task(there_log.follow())]
    received = []

    async def desktop_on_the_other_process():
        async for event in there.subscribe():
            received.append(event)
            if event["kind"] == "screen_pop":
                return

    desktop = asyncio.create_task(desktop_on_the_other_process())
    await asyncio.sleep(0)
    here.publish("call_started", "CA7", state="bot", customer="Jane Doe")
    here.publish("turn", "CA7", role="caller", text="Agent.")
    here.publish("screen_pop", "CA7", state="transferring", pop={"case": "CAS-01234"})
    await asyncio.wait_for(desktop, 3)
    await asyncio.sleep(3 * EventLog.POLL_SECS)
    assert [e["kind"] for e in received] == ["call_started", "turn", "screen_pop"]
    assert there.snapshot()[0]["state"] == "transferring"
    assert len(here.snapshot()[0]["transcript"]) == 1  # its own events are not replayed back to it
    for task in following:
        task.cancel()
    await here_log.aclose()
    await there_log.aclose()
