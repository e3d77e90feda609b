"""SIGTERM: no new calls, the call in progress gets its drain time, then an apology and an agent; then exit."""

from __future__ import annotations

import asyncio
import signal

import pytest
import websockets

from tests.e2e.conftest import start_server
from tests.e2e.test_limits import twilio_start
from voicebot.caller import TwilioCaller
from voicebot.storage.sqlite.records import SQLiteCallStore

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


async def test_sigterm_drains_calls_then_hands_the_rest_to_agents(tmp_path):
    proc, log, urls = start_server(tmp_path, {"VOICEBOT_LIMITS__DRAIN_SECS": "3"})
    try:
        async with TwilioCaller(urls["ws"], caller=JANE) as call:
            await asyncio.sleep(2)  # the greeting is playing
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)

            async with websockets.connect(urls["ws"]) as late:
                await late.send(twilio_start("CA" + "6" * 32))
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(late.recv(), 5)
            assert closed.value.rcvd.code == 1013  # a new call is refused while draining

            await call.wait_closed(timeout=40)  # 3 s of drain, then the apology, then the transfer
        await asyncio.to_thread(proc.wait, 30)
        assert proc.returncode in (0, -signal.SIGTERM)
        # The record, read from the call store the server left behind.
        store = SQLiteCallStore(tmp_path / "calls.sqlite3")
        record = await store.get(call.call_sid)
        await store.aclose()
        assert record.outcome == "transferred" and record.outcome_reason == "server_shutdown"
        assert record.turns[-1].text.startswith("I'm sorry, I have to hand you over to an agent")
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
