"""Twilio with REST credentials: signed webhooks only, and transfer by updating the live call."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import WEBHOOK_SECRET, record, screen_pop, start_server, stop_server
from tests.standins.twilio import ACCOUNT_SID, AUTH_TOKEN, TwilioREST
from voicebot.caller import TwilioCaller
from voicebot.scenarios.hearing import says, transcribe_8k
from voicebot.telephony.twilio.api import SIGNATURE_HEADER, request_signature

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


@pytest.fixture(scope="module")
def twilio():
    standin = TwilioREST()
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def rest_server(tmp_path_factory, twilio, webhook):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-rest"),
        {
            "VOICEBOT_TWILIO__ACCOUNT_SID": ACCOUNT_SID,
            "VOICEBOT_TWILIO__AUTH_TOKEN": AUTH_TOKEN,
            "VOICEBOT_TWILIO__API_BASE_URL": twilio.url,
            "VOICEBOT_TRANSFER__PRIORITY_TARGET": "priority",
            "VOICEBOT_ACCESS__TOKEN": "agent-desk-token",
            "VOICEBOT_SCREEN_POP__WEBHOOK_URL": webhook.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    urls["api_headers"] = {"Authorization": "Bearer agent-desk-token"}  # access.token guards /api too
    yield urls
    stop_server(proc, log)


def signed_post(server, path: str, form: dict[str, str], token: str = AUTH_TOKEN) -> httpx.Response:
    url = server["http"] + path
    return httpx.post(url, data=form, headers={SIGNATURE_HEADER: request_signature(url, form, token)})


def test_unsigned_or_forged_webhooks_are_refused(rest_server):
    form = {"CallSid": "CA1", "From": JANE, "To": "+18005550100"}
    assert httpx.post(rest_server["http"] + "/twilio/voice", data=form).status_code == 403
    assert signed_post(rest_server, "/twilio/voice", form, token="not-the-token").status_code == 403
    assert httpx.get(rest_server["http"] + "/twilio/hold").status_code == 403


def test_signed_webhooks_are_answered(rest_server):
    response = signed_post(rest_server, "/twilio/voice", {"CallSid": "CA1", "From": JANE, "To": "+18005550100"})
    assert response.status_code == 200 and "<Connect" in response.text
    hold_url = rest_server["http"] + "/twilio/hold"
    hold = httpx.get(hold_url, headers={SIGNATURE_HEADER: request_signature(hold_url, {}, AUTH_TOKEN)})
    assert hold.status_code == 200 and "/prompts/hold.wav" in hold.text


async def test_transfer_updates_the_live_call_over_rest(rest_server, twilio, webhook, caller_voice):
    async with TwilioCaller(rest_server["ws"], caller=JANE) as call:
        await call.wait_for_prompts(1)
        await call.say(caller_voice.synthesize("Can I talk to a representative?"))
        await call.wait_closed(30)

    [(call_sid, form)] = [u for u in twilio.updates if u[0] == call.call_sid]
    assert '<Enqueue waitUrl="' in form["Twiml"] and ">support</Enqueue>" in form["Twiml"]
    rec = record(rest_server, call_sid)
    assert rec["outcome"] == "transferred"
    assert [e["data"]["via"] for e in rec["events"] if e["kind"] == "transfer_via"] == ["rest"]
    assert screen_pop(webhook, call_sid)["transfer"] == {"mode": "enqueue", "target": "support", "why": None}


def test_the_hold_prompt_is_spoken_in_the_bots_voice(rest_server, whisper):
    response = httpx.get(rest_server["http"] + "/prompts/hold.wav")
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    pcm = response.content[44:]
    assert len(pcm) / 16000 > 2.0
    assert says(transcribe_8k(whisper, pcm), "your call is important to us")


def test_the_agent_desktop_wants_its_token_when_one_is_configured(rest_server):
    assert httpx.get(rest_server["http"] + "/agent").status_code == 401
    assert httpx.get(rest_server["http"] + "/agent", params={"token": "wrong"}).status_code == 401
    page = httpx.get(rest_server["http"] + "/agent", params={"token": "agent-desk-token"})
    assert page.status_code == 200 and "agent desktop" in page.text
    assert "https://" not in page.text.split("<script>")[0]  # nothing loaded from the internet
