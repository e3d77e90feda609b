"""Limits: calls beyond capacity are refused to an agent, and no call holds its place forever.

One server with small limits (two calls at once, 20 s calls, 2 s of media silence,
4 KB messages); each test is what a platform would see at one limit.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket

import httpx
import pytest
import websockets

from tests.e2e.conftest import record, start_server, stop_server
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


@pytest.fixture(scope="module")
def tight(tmp_path_factory):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-limits"),
        {
            "VOICEBOT_LIMITS__MAX_CALLS": "2",
            "VOICEBOT_LIMITS__MAX_CALL_SECS": "20",
            "VOICEBOT_LIMITS__IDLE_SECS": "2",
            "VOICEBOT_LIMITS__MAX_MESSAGE_BYTES": "4096",
        },
    )
    yield urls
    stop_server(proc, log)


def twilio_start(call_sid: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": f"MZ{call_sid[2:]}",
            "start": {
                "callSid": call_sid,
                "streamSid": f"MZ{call_sid[2:]}",
                "accountSid": "AC00000000000000000000000000000000",
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                "customParameters": {"from": JANE, "to": "+18005550100"},
            },
        }
    )


async def test_a_call_beyond_capacity_is_refused_and_the_others_go_on(tight):
    async with TwilioCaller(tight["ws"], caller=JANE) as first, TwilioCaller(tight["ws"], caller=JANE) as second:
        await first.wait_for_prompts(1)
        async with websockets.connect(tight["ws"]) as third:
            await third.send(twilio_start("CA" + "3" * 32))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(third.recv(), 5)
        assert closed.value.rcvd.code == 1013 and closed.value.rcvd.reason == "over capacity"
        await second.wait_for_prompts(1)  # the calls in progress carry on
        metrics = httpx.get(f"{tight['http']}/api/metrics").json()
        assert metrics["counters"]["calls_refused"] == 1 and metrics["active_calls"] == 2
    # Twilio then asks what next: a call the bot never took goes to an agent, not a hang-up.
    twiml = httpx.post(f"{tight['http']}/twilio/after-stream", data={"CallSid": "CA" + "3" * 32}).text
    assert "<Enqueue" in twiml or "<Dial" in twiml


async def test_a_stream_that_stops_sending_media_is_ended(tight):
    call_sid = "CA" + "4" * 32
    async with websockets.connect(tight["ws"]) as ws:
        await ws.send(twilio_start(call_sid))  # then nothing: a half-open stream
        with pytest.raises(websockets.ConnectionClosed):
            async with asyncio.timeout(15):
                while True:
                    await ws.recv()
    call = record(tight, call_sid)
    assert call["outcome"] == "error"
    assert call["outcome_reason"] == "protocol_error: no media for 2 s"


async def test_a_call_that_runs_too_long_is_handed_to_an_agent(tight):
    async with TwilioCaller(tight["ws"], caller=JANE) as call:
        await call.wait_closed(timeout=45)  # Jane listens and never answers
    data = record(tight, call.call_sid)
    assert data["outcome"] == "transferred" and data["outcome_reason"] == "max_duration"
    assert any(t["text"].startswith("I'm sorry, this call has gone on") for t in data["turns"])


async def test_an_oversized_message_ends_that_call_not_the_server(tight):
    async with websockets.connect(tight["ws"]) as ws:
        await ws.send(twilio_start("CA" + "5" * 32))
        await ws.send(json.dumps({"event": "media", "media": {"payload": "A" * 8000}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
    assert closed.value.rcvd.code == 1009
    assert httpx.get(f"{tight['http']}/healthz").status_code == 200


async def test_a_peer_that_hangs_up_before_its_start_costs_nothing(tight):
    """Hanging up first, or a start cut off by an oversized message, must not leave a server error behind."""
    logged_before = len(tight["log"].read_text())
    for n in range(20):
        async with websockets.connect(tight["ws"]) as ws:
            if n % 2:  # the start and an oversized message in one write: uvicorn drops both and closes 1009
                await ws.send(twilio_start("CA" + "6" * 32))
                await ws.send("x" * 8000)
    await asyncio.sleep(0.5)
    assert httpx.get(f"{tight['http']}/healthz").status_code == 200
    logged = tight["log"].read_text()[logged_before:]
    assert "Exception in ASGI application" not in logged and "Traceback" not in logged


def flood_message(n: int) -> str:
    """Junk of every kind a broken or hostile peer might stream: bad JSON, unknown events, undecodable media."""
    kinds = [
        "{not json",
        json.dumps({"event": "surprise", "n": n}),
        json.dumps({"event": "media", "sequenceNumber": str(10**30 + n), "media": {"payload": "@@not base64@@"}}),
        json.dumps({"event": "media", "media": {"payload": 12}}),
        json.dumps([n]),
        json.dumps({"event": "dtmf", "dtmf": "9"}),
    ]
    return kinds[n % len(kinds)]


SILENCE_MESSAGE = json.dumps(
    {"event": "media", "media": {"track": "inbound", "payload": base64.b64encode(b"\xff" * 160).decode()}}
)  # 20 ms of mu-law silence


async def line_silence(ws) -> None:
    while True:
        await ws.send(SILENCE_MESSAGE)
        await asyncio.sleep(0.02)


async def no_calls_in_progress(server, timeout: float = 15.0) -> None:
    """Earlier tests' calls may still be winding down, holding places under max_calls 2."""
    async with asyncio.timeout(timeout):
        while httpx.get(f"{server['http']}/api/metrics").json()["active_calls"]:
            await asyncio.sleep(0.2)


async def test_a_flood_of_junk_is_skipped_and_neither_that_call_nor_another_falls_over(tight):
    call_sid = "CA" + "7" * 32
    await no_calls_in_progress(tight)
    async with websockets.connect(tight["ws"]) as ws:
        await ws.send(twilio_start(call_sid))
        async with TwilioCaller(tight["ws"], caller=JANE) as other:
            for n in range(5000):  # as fast as the socket takes them, amid the call's own audio
                await ws.send(flood_message(n) if n % 25 else SILENCE_MESSAGE)
            line = asyncio.create_task(line_silence(ws))  # then a line that is quiet, not dead (idle_secs is 2)
            await other.wait_for_prompts(1)  # the other call is greeted meanwhile
            assert httpx.get(f"{tight['http']}/healthz").status_code == 200
            line.cancel()
            await ws.send(json.dumps({"event": "stop", "streamSid": f"MZ{call_sid[2:]}", "stop": {}}))
    flooded = record(tight, call_sid)
    assert flooded["outcome"] == "abandoned"  # alive to the end, when the caller hung up
    log = tight["log"].read_text()
    # 4,000 of the 5,000 are junk of the kinds that are skipped (unknown events are passed over)
    assert "skipped message #4000" in log and "Traceback" not in log


async def test_a_caller_that_never_reads_holds_no_one_else_up_and_is_let_go(tight):
    """A slow consumer: its socket's receive buffer is tiny and it reads nothing, while it keeps sending audio."""
    await no_calls_in_progress(tight)
    call_sid = "CA" + "8" * 32
    port = int(tight["http"].rsplit(":", 1)[1])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    async with websockets.connect(tight["ws"], sock=sock, max_queue=1) as stuck:
        await stuck.send(twilio_start(call_sid))
        line = asyncio.create_task(line_silence(stuck))
        async with TwilioCaller(tight["ws"], caller=JANE) as other:
            await other.wait_for_prompts(1)  # greeted as usual meanwhile
        async with asyncio.timeout(45):  # max_call_secs 20, the apology, a mark that never comes back
            while not (ended := record(tight, call_sid, timeout=0))["outcome"]:
                await asyncio.sleep(0.5)  # the line keeps sending meanwhile
        line.cancel()
    assert (ended["outcome"], ended["outcome_reason"]) == (
        "transferred",
        "max_duration",
    )
    await no_calls_in_progress(tight)  # its place is free again
