"""A whole call with Zendesk as the CRM: the stand-in on loopback plays Zendesk for the real server."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.e2e.conftest import WEBHOOK_SECRET, record, screen_pop, start_server, stop_server
from tests.standins.zendesk import API_TOKEN, EMAIL, Zendesk
from voicebot.caller import TwilioCaller
from voicebot.scenarios.hearing import says, transcribe_8k

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


@pytest.fixture(scope="module")
def zendesk():
    standin = Zendesk()
    jane = standin.add_user("Jane Doe", "+1 (415) 555-2671")
    standin.add_ticket(jane, "Printer jams on every page", "open", "2026-11-18T09:00:00Z", priority="high")
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def zendesk_server(tmp_path_factory, zendesk, webhook):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-zendesk"),
        {
            "VOICEBOT_CRM__BACKEND": "zendesk",
            "VOICEBOT_CRM__ZENDESK__BASE_URL": zendesk.url,
            "VOICEBOT_CRM__ZENDESK__EMAIL": EMAIL,
            "VOICEBOT_CRM__ZENDESK__API_TOKEN": API_TOKEN,
            "VOICEBOT_SCREEN_POP__WEBHOOK_URL": webhook.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    yield urls
    stop_server(proc, log)


async def test_a_zendesk_caller_hears_their_ticket_and_the_agent_gets_the_zendesk_pop(
    zendesk_server, zendesk, webhook, whisper, caller_voice
):
    [ticket] = zendesk.tickets
    async with TwilioCaller(zendesk_server["ws"], caller=JANE) as call:
        [greeting] = await call.wait_for_prompts(1)
        heard = transcribe_8k(whisper, greeting.pcm)
        assert says(heard, "Hi, Jane")
        assert says(heard, "your latest ticket")
        assert says(heard, "printer jams on every page")
        await call.say(caller_voice.synthesize("I would like to talk to a person, please."))
        await call.wait_closed(30)

    rec = record(zendesk_server, call.call_sid)
    assert rec["outcome"] == "transferred" and rec["crm"]["backend"] == "zendesk"
    pop = screen_pop(webhook, call.call_sid)
    assert pop["action"] == {"type": "open_case", "url": f"{zendesk.url}/agent/tickets/{ticket['id']}"}
    assert pop["customer"]["url"] == f"{zendesk.url}/agent/users/{ticket['requester_id']}"
    assert pop["case"]["kind"] == "ticket" and pop["case"]["priority"] == "high"

    for _ in range(100):  # the private comment goes through the outbox after the call
        if zendesk.comments[ticket["id"]]:
            break
        await asyncio.sleep(0.1)
    [comment] = zendesk.comments[ticket["id"]]
    assert comment["public"] is False
    assert f"Voice bot call {call.call_sid}" in comment["body"] and "transferred" in comment["body"]
    assert json.dumps(comment)  # what Zendesk stored is plain JSON


async def test_zendesk_down_means_an_apology_and_an_agent_with_the_reason_in_the_pop(
    zendesk_server, zendesk, webhook, whisper
):
    zendesk.fail_next(503, times=100, body={"error": "SearchUnavailable"})
    try:
        async with TwilioCaller(zendesk_server["ws"], caller=JANE) as call:
            [prompt] = await call.wait_for_prompts(1)
            await call.wait_closed(30)
    finally:
        zendesk.heal()
    assert says(transcribe_8k(whisper, prompt.pcm), "connecting you to an agent")
    assert prompt.first_audio_at - call.started_at < 3.0  # no long silence while the CRM fails
    pop = screen_pop(webhook, call.call_sid)
    assert pop["reason"] == "crm_unavailable" and pop["crm"]["status"] == "unavailable"
    assert "503" in pop["crm"]["error"] and "CRM was unavailable" in pop["summary"]
