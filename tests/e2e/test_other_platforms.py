"""Whole calls over Telnyx, Plivo, Exotel and Vonage, each against a client that behaves like that platform.

Telnyx and Vonage streams are forks of the call: the bot transfers or hangs up
through their REST APIs, played here by loopback stand-ins that check the key
or the JWT and the body. Plivo and Exotel take the call back when the bot closes
the stream and ask our URLs where the caller goes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.e2e.conftest import WEBHOOK_SECRET, record, screen_pop, start_server, stop_server
from tests.standins.telnyx import API_KEY, TelnyxCallControl
from tests.standins.vonage import APPLICATION_ID, VonageVoiceAPI, new_key_pair
from voicebot.caller import caller_for
from voicebot.scenarios.hearing import says, transcribe_8k
from voicebot.telephony.plivo import signature as plivo_signature

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
PUBLIC_URL = "https://bot.example.com"
TELNYX_SIGNER = Ed25519PrivateKey.generate()  # Telnyx's key; the server has only the public half
TELNYX_PUBLIC_KEY = base64.b64encode(TELNYX_SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
PLIVO_AUTH_TOKEN = "plivo-auth-token"


def telnyx_webhook(server, event: dict, timestamp: int | None = None, signer=TELNYX_SIGNER) -> httpx.Response:
    """POST an event as Telnyx does: signed over ``timestamp|body`` with Ed25519."""
    body = json.dumps(event).encode()
    sent = str(int(time.time()) if timestamp is None else timestamp)
    signature = base64.b64encode(signer.sign(sent.encode() + b"|" + body)).decode()
    headers = {"Content-Type": "application/json", "telnyx-signature-ed25519": signature, "telnyx-timestamp": sent}
    return httpx.post(server["http"] + "/telnyx/webhook", content=body, headers=headers)


def plivo_request(server, method: str, path: str, form: dict | None = None, token=PLIVO_AUTH_TOKEN, **kw):
    """A Plivo callback, signed (V3) for the public URL Plivo was given."""
    fields = {k: [v] for k, v in (form or {}).items()}
    nonce = "41298761"
    signature = plivo_signature.signature(token, method, PUBLIC_URL + path, fields, nonce)
    headers = {plivo_signature.SIGNATURE_HEADER: signature, plivo_signature.NONCE_HEADER: nonce}
    return httpx.request(method, server["http"] + path, data=form, headers=headers, **kw)


@pytest.fixture(scope="module")
def telnyx():
    standin = TelnyxCallControl()
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def vonage():
    private, public = new_key_pair()
    standin = VonageVoiceAPI(public)
    standin.private_key = private
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def platforms_server(tmp_path_factory, telnyx, vonage, webhook):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-platforms"),
        {
            "VOICEBOT_SERVER__PUBLIC_URL": PUBLIC_URL,
            "VOICEBOT_TELNYX__API_KEY": API_KEY,
            "VOICEBOT_TELNYX__PUBLIC_KEY": TELNYX_PUBLIC_KEY,
            "VOICEBOT_PLIVO__AUTH_TOKEN": PLIVO_AUTH_TOKEN,
            "VOICEBOT_TELNYX__API_BASE_URL": telnyx.url,
            "VOICEBOT_VONAGE__APPLICATION_ID": APPLICATION_ID,
            "VOICEBOT_VONAGE__PRIVATE_KEY": vonage.private_key,
            "VOICEBOT_VONAGE__API_BASE_URL": vonage.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_URL": webhook.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    urls["base_ws"] = urls["ws"].removesuffix("/twilio/media")
    yield urls
    stop_server(proc, log)


async def greeted_then_press(server, platform: str, whisper, digit: str):
    """Jane calls, hears her greeting (the bot's real audio, transcribed back), presses ``digit``."""
    async with caller_for(platform, server["base_ws"], caller=JANE) as call:
        [greeting] = await call.wait_for_prompts(1)
        heard = transcribe_8k(whisper, greeting.pcm)
        assert says(heard, "Hi, Jane") and says(heard, "keeps dropping the connection")
        await call.press(digit)
        await call.wait_closed(30)
    await asyncio.sleep(0.3)
    return call, heard


# -- Telnyx ----------------------------------------------------------------------------------


def test_telnyx_call_initiated_is_answered_onto_the_media_stream(platforms_server, telnyx):
    event = {
        "data": {
            "event_type": "call.initiated",
            "payload": {"call_control_id": "v3:answer-me", "direction": "incoming", "from": JANE, "to": "+18005550100"},
        }
    }
    assert telnyx_webhook(platforms_server, event).status_code == 200
    [(action, body)] = telnyx.for_call("v3:answer-me")
    assert action == "answer"
    assert body["stream_url"] == "wss://bot.example.com/telnyx/media"
    assert body["stream_bidirectional_mode"] == "rtp" and body["stream_bidirectional_codec"] == "PCMU"
    hangup = {"data": {"event_type": "call.hangup", "payload": {"call_control_id": "v3:answer-me"}}}
    assert telnyx_webhook(platforms_server, hangup).status_code == 200
    assert len(telnyx.for_call("v3:answer-me")) == 1


async def test_telnyx_caller_is_enqueued_by_call_control_with_the_pop_id(platforms_server, telnyx, webhook, whisper):
    call, _ = await greeted_then_press(platforms_server, "telnyx", whisper, "1")
    [(action, body)] = telnyx.for_call(call.call_sid)
    assert action == "enqueue" and body["queue_name"] == "support"
    pop = screen_pop(webhook, call.call_sid)
    assert json.loads(base64.b64decode(body["client_state"])) == {"screen_pop_id": pop["id"]}
    assert pop["call"]["platform"] == "telnyx" and pop["case"]["number"] == "CAS-01234"
    rec = record(platforms_server, call.call_sid)
    assert rec["outcome"] == "transferred" and rec["ani_e164"] == JANE
    assert [e["data"] for e in rec["events"] if e["kind"] == "transfer_via"] == [{"via": "telnyx_rest"}]


async def test_telnyx_goodbye_hangs_up_by_call_control(platforms_server, telnyx, whisper):
    call, _ = await greeted_then_press(platforms_server, "telnyx", whisper, "2")
    assert [action for action, _ in telnyx.for_call(call.call_sid)] == ["hangup"]
    assert record(platforms_server, call.call_sid)["outcome"] == "completed"


def test_telnyx_webhooks_not_signed_by_telnyx_are_refused(platforms_server, telnyx):
    event = {
        "data": {"event_type": "call.initiated", "payload": {"call_control_id": "v3:forged", "direction": "incoming"}}
    }
    assert httpx.post(platforms_server["http"] + "/telnyx/webhook", json=event).status_code == 403  # unsigned
    assert telnyx_webhook(platforms_server, event, signer=Ed25519PrivateKey.generate()).status_code == 403
    assert telnyx_webhook(platforms_server, event, timestamp=int(time.time()) - 600).status_code == 403  # replayed
    assert telnyx.for_call("v3:forged") == []  # nothing was answered


# -- Plivo -----------------------------------------------------------------------------------


def test_plivo_callbacks_not_signed_by_plivo_are_refused(platforms_server):
    form = {"CallUUID": "x", "From": JANE, "To": "1800"}
    assert httpx.post(platforms_server["http"] + "/plivo/answer", data=form).status_code == 403
    assert plivo_request(platforms_server, "POST", "/plivo/answer", form, token="not-the-token").status_code == 403
    assert plivo_request(platforms_server, "POST", "/plivo/answer", form).status_code == 200  # the genuine one
    assert httpx.get(platforms_server["http"] + "/plivo/hold").status_code == 403


def test_plivo_answer_streams_the_call_then_redirects(platforms_server):
    response = plivo_request(platforms_server, "POST", "/plivo/answer", {"CallUUID": "x", "From": JANE, "To": "1800"})
    xml = response.text
    assert response.status_code == 200
    assert 'bidirectional="true" keepCallAlive="true"' in xml and f'extraHeaders="from={JANE},to=1800"' in xml
    assert ">wss://bot.example.com/plivo/media</Stream>" in xml
    assert '<Redirect method="POST">https://bot.example.com/plivo/after-stream</Redirect>' in xml


async def test_plivo_caller_is_put_through_by_the_after_stream_xml(platforms_server, webhook, whisper):
    call, _ = await greeted_then_press(platforms_server, "plivo", whisper, "1")
    assert call.marks_echoed, "the greeting's checkpoint came back as playedStream"
    xml = plivo_request(platforms_server, "POST", "/plivo/after-stream", {"CallUUID": call.call_sid}).text
    assert '<Conference waitSound="https://bot.example.com/plivo/hold"' in xml and ">support</Conference>" in xml
    hold = plivo_request(platforms_server, "GET", "/plivo/hold").text
    assert "/media/hold-music.wav</Play>" in hold and "/prompts/hold.wav</Play>" in hold
    pop = screen_pop(webhook, call.call_sid)
    assert pop["call"]["platform"] == "plivo" and pop["customer"]["name"] == "Jane Doe"


async def test_plivo_goodbye_hangs_up(platforms_server, whisper):
    call, _ = await greeted_then_press(platforms_server, "plivo", whisper, "2")
    xml = plivo_request(platforms_server, "POST", "/plivo/after-stream", {"CallUUID": call.call_sid}).text
    assert "<Hangup/>" in xml


# -- Exotel ----------------------------------------------------------------------------------


async def test_exotel_flow_passes_through_to_connect_with_the_agent_number(platforms_server, webhook, whisper):
    call, _ = await greeted_then_press(platforms_server, "exotel", whisper, "1")
    params = {"CallSid": call.call_sid, "CallFrom": JANE}
    outcome = httpx.get(platforms_server["http"] + "/exotel/outcome", params=params, follow_redirects=False)
    assert outcome.status_code == 200
    number = httpx.get(platforms_server["http"] + "/exotel/dial-whom", params=params)
    assert number.headers["content-type"].startswith("text/plain") and number.text == "+18005550199"
    pop = screen_pop(webhook, call.call_sid)
    assert pop["call"]["platform"] == "exotel" and pop["case"]["number"] == "CAS-01234"


async def test_exotel_goodbye_takes_the_hang_up_branch(platforms_server, whisper):
    call, _ = await greeted_then_press(platforms_server, "exotel", whisper, "2")
    params = {"CallSid": call.call_sid}
    outcome = httpx.get(platforms_server["http"] + "/exotel/outcome", params=params, follow_redirects=False)
    assert outcome.status_code == 302


# -- Vonage ----------------------------------------------------------------------------------


def test_vonage_answer_connects_the_caller_to_the_websocket(platforms_server):
    params = {"uuid": "0b2a3c4d-0000-4000-8000-000000000001", "from": "14155552671", "to": "18005550100"}
    [connect] = httpx.get(platforms_server["http"] + "/vonage/answer", params=params).json()
    [endpoint] = connect["endpoint"]
    assert connect["action"] == "connect" and endpoint["type"] == "websocket"
    assert endpoint["uri"] == "wss://bot.example.com/vonage/media"
    assert endpoint["content-type"] == "audio/l16;rate=16000"
    assert endpoint["headers"] == {"from": "14155552671", "to": "18005550100", "call_uuid": params["uuid"]}


async def test_vonage_caller_is_transferred_by_a_signed_call_update(platforms_server, vonage, webhook, whisper):
    call, _ = await greeted_then_press(platforms_server, "vonage", whisper, "1")
    [(uuid, body)] = [u for u in vonage.updates if u[0] == call.call_sid]
    [conversation] = body["destination"]["ncco"]
    assert body["action"] == "transfer" and conversation["action"] == "conversation"
    assert conversation["name"] == "support"
    assert conversation["musicOnHoldUrl"] == ["https://bot.example.com/media/hold-music.wav"]
    pop = screen_pop(webhook, call.call_sid)
    assert pop["call"]["platform"] == "vonage" and pop["customer"]["name"] == "Jane Doe"


async def test_vonage_goodbye_hangs_up_by_a_call_update(platforms_server, vonage, whisper):
    call, _ = await greeted_then_press(platforms_server, "vonage", whisper, "2")
    assert [body for uuid, body in vonage.updates if uuid == call.call_sid] == [{"action": "hangup"}]


# -- without credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["telnyx", "vonage"])
async def test_forked_streams_are_refused_without_call_control_credentials(server, platform):
    base = server["ws"].removesuffix("/twilio/media")
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with caller_for(platform, base, caller=JANE):
            pass
    assert refused.value.response.status_code == 403


async def test_a_bad_start_is_refused_with_a_reason(platforms_server):
    async with websockets.connect(platforms_server["base_ws"] + "/exotel/media") as ws:
        await ws.send(json.dumps({"event": "start", "start": {"from": JANE}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd.code == 1008 and "call_sid" in closed.value.rcvd.reason
