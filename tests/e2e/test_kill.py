"""SIGKILL mid-call: after a restart every turn is there, the cut-off call is closed and noted, the outbox resumes.

The screen-pop receiver (a real HTTP server on loopback) is down while the first
server runs, so a transferred call's pop is still waiting in the outbox when
the server is killed during a second call.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.e2e.conftest import start_server, stop_server
from tests.http_receiver import HTTPReceiver
from voicebot.caller import TwilioCaller
from voicebot.storage.sqlite.records import SQLiteCallStore
from voicebot.tools.crm.local import LocalCRM

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


async def read_record(data_dir, call_id):
    store = SQLiteCallStore(data_dir / "calls.sqlite3")
    try:
        return await store.get(call_id)
    finally:
        await store.aclose()


async def test_a_killed_server_loses_no_turn_no_pop_and_no_note(tmp_path, caller_voice):
    receiver_up = False
    receiver = HTTPReceiver(status=lambda n: 204 if receiver_up else 503)
    env = {
        "VOICEBOT_SCREEN_POP__WEBHOOK_URL": receiver.url,
        "VOICEBOT_OUTBOX__BACKOFF_MAX_SECS": "2",
        "VOICEBOT_OUTBOX__MAX_ATTEMPTS": "1000",  # keep it pending (not parked) however long the receiver is down
    }
    proc, log, urls = start_server(tmp_path, env)
    try:
        async with TwilioCaller(urls["ws"], caller=JANE) as transferred:
            await transferred.wait_for_prompts(1)
            await transferred.say(caller_voice.synthesize("Can I talk to a representative?"))
            await transferred.wait_closed(30)
        assert receiver.requests  # the pop was tried, and refused

        async with TwilioCaller(urls["ws"], caller=JANE) as cut_off:
            await cut_off.wait_for_prompts(1)
            await cut_off.say(caller_voice.synthesize("What is the status of my case?"))
            await cut_off.wait_for_prompts(2)  # the bot has answered: both turns are on disk
            proc.kill()
            await asyncio.to_thread(proc.wait, 10)
            await cut_off.wait_closed(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()

    left = await read_record(tmp_path, cut_off.call_sid)
    assert left.outcome is None  # killed: nobody closed it
    said = [t.text for t in left.turns if t.role == "caller"]
    assert said and "status" in said[-1].lower()
    assert [t.role for t in left.turns[:3]] == ["bot", "caller", "bot"]

    tries_before_restart = len(receiver.pops_for(transferred.call_sid))
    receiver_up = True
    proc, log, urls = start_server(tmp_path, env)
    try:
        closed = await read_record(tmp_path, cut_off.call_sid)
        assert (closed.outcome, closed.outcome_reason) == ("error", "server_stopped")
        assert [t.text for t in closed.turns] == [t.text for t in left.turns]  # every turn survived

        deadline = time.time() + 20
        while time.time() < deadline and len(receiver.pops_for(transferred.call_sid)) <= tries_before_restart:
            await asyncio.sleep(0.2)
        assert len(receiver.pops_for(transferred.call_sid)) > tries_before_restart  # delivered, now answered 204

        crm = LocalCRM(tmp_path / "crm.sqlite3")
        deadline = time.time() + 15
        while time.time() < deadline:
            notes = [n for n in crm.notes(closed.case["id"]) if cut_off.call_sid in n["body"]]
            if notes:
                break
            await asyncio.sleep(0.2)
        assert notes and "server stopped" in notes[0]["body"] and said[-1] in notes[0]["body"]
        outbox = httpx.get(urls["http"] + "/api/outbox").json()
        assert outbox["counts"].get("pending", 0) == 0 and outbox["counts"].get("parked", 0) == 0
    finally:
        stop_server(proc, log)
        receiver.close()
