"""Every way in asks for its secret: operators a token, media streams their call's token.

One server with ``access.token`` and ``access.media_secret`` set, reached the way
a platform or an operator on another machine would; and the default server
(no secrets), which must refuse what comes through a proxy.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import httpx
import pytest
import websockets

from tests.e2e.conftest import start_server, stop_server
from tests.e2e.test_limits import twilio_start
from voicebot.caller import TwilioCaller, caller_for

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
TOKEN = "operator-token-1"
MEDIA_SECRET = "media-secret-1"
OPERATOR_PATHS = [
    "/api/calls",
    "/api/metrics",
    "/metrics",
    "/api/outbox",
    "/api/lookup",
    "/agent",
    "/phone",
    "/crm/cases/new",
]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-access"),
        {"VOICEBOT_ACCESS__TOKEN": TOKEN, "VOICEBOT_ACCESS__MEDIA_SECRET": MEDIA_SECRET},
    )
    yield urls
    stop_server(proc, log)
    logged = urls["log"].read_text()
    assert TOKEN not in logged and MEDIA_SECRET not in logged  # though requests and streams carried both


@pytest.mark.parametrize("path", OPERATOR_PATHS)
def test_the_operator_surface_wants_the_token(guarded, path):
    url = guarded["http"] + path
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_a_token_in_the_address_opens_the_pages_it_links_to(guarded):
    with httpx.Client(base_url=guarded["http"]) as browser:
        first = browser.get("/agent", params={"token": TOKEN})
        assert first.status_code == 200
        cookie = first.cookies["voicebot_token"]
        assert TOKEN not in cookie  # derived from the token, not the token
        assert browser.get("/crm/cases/new").status_code == 200  # the cookie alone
    assert httpx.get(guarded["http"] + "/crm/cases/new", cookies={"voicebot_token": "forged"}).status_code == 401


async def test_requests_with_tokens_are_logged_without_them(guarded):
    httpx.get(guarded["http"] + "/agent", params={"token": TOKEN})
    base = guarded["ws"].removesuffix("/twilio/media")
    async with caller_for("plivo", base, caller=JANE, token=MEDIA_SECRET) as call:
        await call.wait_for_prompts(1)
    await asyncio.sleep(0.2)
    logged = guarded["log"].read_text()
    assert '"GET /agent?token=*** HTTP/1.1" 200' in logged and "/plivo/media?token=***" in logged
    assert TOKEN not in logged and MEDIA_SECRET not in logged


def test_the_health_check_stays_open_for_load_balancers(guarded):
    assert httpx.get(guarded["http"] + "/healthz").status_code == 200


def _token_parameter(twiml: str) -> str:
    return re.search(r'<Parameter name="token" value="([0-9a-f]{64})"/>', twiml).group(1)


async def test_a_call_answered_by_our_webhook_streams_with_its_token(guarded):
    call_sid = "CA" + "a" * 32
    twiml = httpx.post(guarded["http"] + "/twilio/voice", data={"CallSid": call_sid, "From": JANE}).text
    token = _token_parameter(twiml)
    async with TwilioCaller(guarded["ws"], caller=JANE, call_sid=call_sid, token=token) as call:
        assert await call.wait_for_prompts(1)  # greeted, not refused


async def _refused(url: str, start: str) -> websockets.frames.Close:
    async with websockets.connect(url) as ws:
        await ws.send(start)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    return closed.value.rcvd


def _with_token(start: str, token: str) -> str:
    message = json.loads(start)
    message["start"]["customParameters"]["token"] = token
    return json.dumps(message)


async def test_a_media_stream_without_its_calls_token_is_refused(guarded):
    operator = {"Authorization": f"Bearer {TOKEN}"}
    before = httpx.get(guarded["http"] + "/api/metrics", headers=operator).json()
    answer = httpx.post(guarded["http"] + "/twilio/voice", data={"CallSid": "CA" + "b" * 32})
    other_calls = _token_parameter(answer.text)
    starts = [
        twilio_start("CA" + "c" * 32),  # no token
        _with_token(twilio_start("CA" + "c" * 32), "0" * 64),  # a made-up one
        _with_token(twilio_start("CA" + "c" * 32), other_calls),  # another call's
    ]
    for start in starts:
        close = await _refused(guarded["ws"], start)
        assert (close.code, close.reason) == (1008, "unauthorised")
    after = httpx.get(guarded["http"] + "/api/metrics", headers=operator).json()
    refused = after["counters"].get("calls_unauthorised", 0) - before["counters"].get("calls_unauthorised", 0)
    assert refused == 3 and after["active_calls"] == 0
    calls = httpx.get(guarded["http"] + "/api/calls", headers=operator).json()["calls"]
    assert all(c["id"] != "CA" + "c" * 32 for c in calls)  # nothing ran for a refused stream


async def test_a_platform_configured_by_hand_may_present_the_secret_in_the_stream_url(guarded):
    base = guarded["ws"].removesuffix("/twilio/media")
    async with caller_for("plivo", base, caller=JANE, token=MEDIA_SECRET) as call:
        assert await call.wait_for_prompts(1)
    async with caller_for("plivo", base, caller=JANE, token="not-the-secret") as refused:
        await refused.wait_closed(10)
    assert refused.close_code == 1008


def test_without_secrets_what_comes_through_a_proxy_is_refused(server):
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert httpx.get(server["http"] + "/api/calls").status_code == 200  # this machine, directly
    assert httpx.get(server["http"] + "/api/calls", headers=forwarded).status_code == 403
    assert httpx.get(server["http"] + "/agent", headers={"Forwarded": "for=203.0.113.7"}).status_code == 403


async def test_without_a_media_secret_a_proxied_media_stream_is_refused(server):
    async with websockets.connect(server["ws"], additional_headers={"X-Forwarded-For": "203.0.113.7"}) as ws:
        await ws.send(twilio_start("CA" + "d" * 32))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "unauthorised")


def test_test_calls_against_a_guarded_server_present_its_tokens(guarded, tmp_path):
    scenario = tmp_path / "keypad.yaml"
    scenario.write_text(
        "calls:\n"
        "  - name: keypad goodbye\n"
        '    ani: "+14155552671"\n'
        "    turns:\n"
        '      - dtmf: "2"\n'
        "        intent: goodbye\n"
        "    expect:\n"
        "      outcome: completed\n"
    )
    url = guarded["ws"].removesuffix("/twilio/media")
    command = [sys.executable, "-m", "voicebot", "test-calls", str(scenario), "--url", url]
    without = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert without.returncode == 1  # refused: no media token
    given = subprocess.run(
        [*command, "--media-token", MEDIA_SECRET, "--api-token", TOKEN], capture_output=True, text=True, timeout=300
    )
    assert given.returncode == 0, given.stdout + given.stderr
    assert "1 calls: 1 passed" in given.stdout or "1 call: 1 passed" in given.stdout
