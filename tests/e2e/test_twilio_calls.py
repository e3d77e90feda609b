"""Whole phone calls over a Twilio-behaving websocket against the real server and models.

Each test is one caller's story: what they hear (the bot's real audio, transcribed
back), what they say (synthesised speech, real-time paced) or press, and what is
left behind: the call record, the screen pop received by the webhook, and the
TwiML Twilio gets when the stream closes.
"""

from __future__ import annotations

import asyncio
import html
import json

import httpx
import pytest

from tests.e2e.conftest import record, screen_pop
from voicebot.caller import TwilioCaller
from voicebot.scenarios.hearing import matches, says, spoken_digits, transcribe_8k

pytestmark = pytest.mark.e2e

JANE = "+14155552671"  # demo customer with open case CAS-01234
CARLOS = "+14155550142"  # demo customer with open case CAS-01187
UNKNOWN = "+12125550123"


def after_stream(server, call_id: str) -> str:
    response = httpx.post(
        f"{server['http']}/twilio/after-stream",
        data={"CallSid": call_id, "CallStatus": "in-progress"},
    )
    assert response.status_code == 200
    return response.text


async def test_known_caller_is_greeted_with_case_and_asks_for_an_agent(server, webhook, whisper, caller_voice):
    # The caller answers as soon as the greeting ends; what the bot said is checked after the call, so the
    # check's own transcription (seconds on a slow machine) does not keep the caller silent into a re-prompt.
    answer = caller_voice.synthesize("I would like to talk to a person, please.")
    async with TwilioCaller(server["ws"], caller=JANE) as call:
        [greeting] = await call.wait_for_prompts(1)
        await call.say(answer)
        await call.wait_closed(30)
        transfer_prompt = call.prompts[-1]

    heard = transcribe_8k(whisper, greeting.pcm)
    assert says(heard, "Hi, Jane")
    assert "01234" in spoken_digits(heard)
    assert says(heard, "keeps dropping the connection")

    assert says(transcribe_8k(whisper, transfer_prompt.pcm), "connecting you to an agent")
    rec = record(server, call.call_sid)
    assert rec["outcome"] == "transferred"
    assert rec["outcome_reason"] == "caller_requested_agent"
    assert rec["customer"]["name"] == "Jane Doe"
    assert rec["case"]["number"] == "CAS-01234"
    assert [i["intent"] for i in rec["intents"]] == ["agent"]
    caller_turns = [t for t in rec["turns"] if t["role"] == "caller"]
    said = caller_turns[0]["text"]
    assert says(said, "talk to a person")
    bot_turns = [t for t in rec["turns"] if t["role"] == "bot"]
    assert bot_turns[1]["latency_ms"] is not None and 0 < bot_turns[1]["latency_ms"] < 5000
    # The record accounts for that reply's time, from the turn's end to its first audio.
    [spent] = [e["data"] for e in rec["events"] if e["kind"] == "reply_timing"]
    assert spent["sent_ms"] == bot_turns[1]["latency_ms"]
    turn = spent["turn"]
    assert turn["stt_ms"] > 0 and turn["judged_ms"] >= turn["asked_ms"] + turn["queued_ms"] + turn["stt_ms"]
    assert turn["judged_ms"] <= turn["ended_ms"] <= spent["decided_ms"] <= spent["sent_ms"]

    pop = screen_pop(webhook, call.call_sid)
    assert pop["action"]["type"] == "open_case"
    assert pop["case"]["number"] == "CAS-01234"
    assert pop["customer"]["name"] == "Jane Doe"
    assert pop["call"]["ani"]["e164"] == JANE
    assert said in [t["text"] for t in pop["transcript"] if t["role"] == "caller"]
    assert rec["screen_pops"][0]["payload"]["id"] == pop["id"]

    twiml = after_stream(server, call.call_sid)
    assert "<Enqueue" in twiml and "support</Enqueue>" in twiml

    # The post-call note is on the case in the CRM, with what the caller said.
    case_url = f"{server['http']}/crm/cases/{rec['case']['id']}"
    for _ in range(50):  # written as the stream closes; allow it a moment
        case_page = httpx.get(case_url).text
        if f"Voice bot call {call.call_sid}" in case_page:
            break
        await asyncio.sleep(0.1)
    assert f"Voice bot call {call.call_sid}" in case_page and html.escape(said) in case_page


async def test_known_caller_says_goodbye_and_the_call_hangs_up(server, webhook, whisper, caller_voice):
    answer = caller_voice.synthesize("No thanks, that's all.")
    async with TwilioCaller(server["ws"], caller=CARLOS) as call:
        [greeting] = await call.wait_for_prompts(1)
        await call.say(answer)
        await call.wait_closed(30)
        goodbye = call.prompts[-1]

    assert says(transcribe_8k(whisper, greeting.pcm), "Hi, Carlos")

    assert matches(transcribe_8k(whisper, goodbye.pcm), r"thanks for calling.*bye")  # "Goodbye" or "Bye-bye"
    rec = record(server, call.call_sid)
    assert rec["outcome"] == "completed"
    assert [i["intent"] for i in rec["intents"]] == ["goodbye"]
    assert webhook.pops_for(call.call_sid, timeout=1) == []
    assert "<Hangup/>" in after_stream(server, call.call_sid)


async def test_unknown_caller_is_transferred_with_a_new_case_pop(server, webhook, whisper):
    async with TwilioCaller(server["ws"], caller=UNKNOWN) as call:
        [prompt] = await call.wait_for_prompts(1)
        await call.wait_closed(30)

    assert says(transcribe_8k(whisper, prompt.pcm), "couldn't find a case for your number")
    rec = record(server, call.call_sid)
    assert rec["outcome"] == "transferred"
    assert rec["outcome_reason"] == "unknown_caller"
    assert rec["customer"] is None
    pop = screen_pop(webhook, call.call_sid)
    assert pop["action"]["type"] == "new_case_form"
    assert pop["customer"] is None and pop["case"] is None
    assert "/crm/cases/new?" in pop["action"]["url"] and "%2B12125550123" in pop["action"]["url"]
    # The new-case form the pop points at is a real page.
    form = httpx.get(pop["action"]["url"].replace(pop["action"]["url"].split("/crm/")[0], server["http"]))
    assert form.status_code == 200 and "+12125550123" in form.text
    assert "<Enqueue" in after_stream(server, call.call_sid)


async def test_dtmf_is_an_equal_alternative_to_speech(server, webhook, whisper):
    async with TwilioCaller(server["ws"], caller=JANE) as call:
        await call.wait_for_prompts(1)
        await call._ws.send("{this is not JSON")  # a bad message mid-call is skipped, not fatal
        await call._ws.send(json.dumps({"event": "media", "media": {"payload": "%%%"}}))
        await call.press("9")  # repeat the case
        [_, repeat] = await call.wait_for_prompts(2)
        # The words carry the case; tiny.en writes its digits one way or another as Piper's rendering varies
        # ("01234", "0124"), so the digits are read from what the bot said, the audio from what it is about.
        assert says(transcribe_8k(whisper, repeat.pcm), "router keeps dropping the connection")
        await call.press("1")  # agent
        await call.wait_closed(30)

    rec = record(server, call.call_sid)
    repeated = [t["text"] for t in rec["turns"] if t["role"] == "bot"][1]
    assert "01234" in spoken_digits(repeated), repeated
    assert [d["digit"] for d in rec["dtmf"]] == ["9", "1"]
    assert [(i["intent"], i["source"]) for i in rec["intents"]] == [("repeat", "dtmf"), ("agent", "dtmf")]
    assert rec["outcome"] == "transferred"
    assert screen_pop(webhook, call.call_sid)["action"]["type"] == "open_case"


async def test_caller_barging_in_stops_the_bot_and_is_the_next_turn(server, webhook, whisper, caller_voice):
    async with TwilioCaller(server["ws"], caller=JANE) as call:
        while not call.utterances[0].pcm or len(call.utterances[0].pcm) < 16000 * 2:
            await asyncio.sleep(0.05)  # two seconds into the greeting
        await call.say(caller_voice.synthesize("Representative, please."))
        await call.wait_closed(30)

    assert call.clears >= 1
    rec = record(server, call.call_sid)
    greeting = rec["turns"][0]
    assert greeting["role"] == "bot" and greeting["interrupted"] is True
    assert any(e["kind"] == "barge_in" for e in rec["events"])
    assert rec["outcome"] == "transferred" and rec["outcome_reason"] == "caller_requested_agent"
    # The greeting was cut: the caller heard far less than its full length.
    assert len(call.utterances[0].pcm) / 16000 < 8


async def test_silence_is_reprompted_then_transferred(server, webhook, whisper):
    async with TwilioCaller(server["ws"], caller=CARLOS) as call:
        prompts = await call.wait_for_prompts(2, timeout=40)
        assert says(transcribe_8k(whisper, prompts[1].pcm), "are you still there")
        await call.wait_closed(60)

    rec = record(server, call.call_sid)
    assert sum(e["kind"] == "silence" for e in rec["events"]) == 3
    assert rec["outcome"] == "transferred" and rec["outcome_reason"] == "no_response"
    assert screen_pop(webhook, call.call_sid)["reason"] == "no_response"


async def test_caller_hanging_up_keeps_everything_said(server, webhook, caller_voice):
    async with TwilioCaller(server["ws"], caller=JANE) as call:
        await call.wait_for_prompts(1)
        await call.say(caller_voice.synthesize("What is the status of my case?"))
        await call.wait_for_prompts(2)
        await call.hang_up()

    rec = record(server, call.call_sid)
    assert rec["outcome"] == "abandoned" and rec["outcome_reason"] == "caller_hung_up"
    assert any(t["role"] == "caller" and says(t["text"], "status of my case") for t in rec["turns"])
    assert [i["intent"] for i in rec["intents"]] == ["status"]
    assert "<Hangup/>" in after_stream(server, call.call_sid)


def test_voice_webhook_answers_connect_stream_twiml(server):
    response = httpx.post(
        f"{server['http']}/twilio/voice",
        data={"CallSid": "CA1", "From": "+14155552671", "To": "+18005550100"},
    )
    assert response.status_code == 200
    host = server["http"].removeprefix("http://")
    assert f'<Connect action="http://{host}/twilio/after-stream">' in response.text
    assert f'<Stream url="ws://{host}/twilio/media">' in response.text
    assert '<Parameter name="from" value="+14155552671"/>' in response.text
    assert '<Parameter name="to" value="+18005550100"/>' in response.text


def test_hold_music_is_served_for_the_queue(server):
    hold = httpx.get(f"{server['http']}/twilio/hold")
    assert "/media/hold-music.wav</Play>" in hold.text and "/prompts/hold.wav</Play>" in hold.text
    music = httpx.get(f"{server['http']}/media/hold-music.wav")
    assert music.status_code == 200 and music.content[:4] == b"RIFF" and len(music.content) > 100_000


def test_the_outbox_shows_what_was_delivered_and_what_is_stuck(server):
    outbox = httpx.get(f"{server['http']}/api/outbox").json()
    assert set(outbox["counts"]) == {"pending", "done", "parked"}
    assert outbox["counts"]["done"] >= 1 and outbox["counts"]["parked"] == 0
    assert all(item["status"] in ("pending", "parked") for item in outbox["items"])
    done = httpx.get(f"{server['http']}/api/outbox", params={"status": "done"}).json()["items"]
    assert {item["kind"] for item in done} == {"crm_note", "screen_pop"}
    assert httpx.get(f"{server['http']}/api/outbox", params={"status": "bogus"}).status_code == 422


def test_calls_are_listed_newest_first(server):
    calls = httpx.get(f"{server['http']}/api/calls").json()["calls"]
    started = [c["started_at"] for c in calls]
    assert started == sorted(started, reverse=True)
    assert httpx.get(f"{server['http']}/api/calls/CA-does-not-exist").status_code == 404


async def test_a_malformed_start_ends_that_stream_not_the_server(server):
    import websockets

    async with websockets.connect(server["ws"]) as ws:
        await ws.send(json.dumps({"event": "connected"}))
        await ws.send("{not json")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1008
    assert httpx.get(f"{server['http']}/healthz").status_code == 200
