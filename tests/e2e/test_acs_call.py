"""Whole calls over Azure Communication Services: Event Grid brings the call, ACS's REST and websocket are stand-ins.

The REST stand-in (``tests/standins/acs.py``) checks every request's HMAC
signature and body, and signs the JWTs ACS would put on callbacks and on the
media upgrade; the media client (``tests/e2e/acs_client.py``) streams 20 ms PCM
frames as ACS does. The server is ``voicebot serve`` in its own process.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import numpy as np
import pytest
import soxr

from tests.e2e.acs_client import AcsMediaClient
from tests.e2e.conftest import WEBHOOK_SECRET, record, screen_pop, start_server, stop_server
from tests.standins.acs import ACCESS_KEY, RESOURCE_ID, AcsStandIn
from tests.standins.graph import CLIENT_ID, CLIENT_SECRET, TENANT, GraphStandIn
from voicebot.scenarios.hearing import says, transcribe_8k
from voicebot.scenarios.line import speak

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
UNKNOWN = "+15005550006"
AGENT_OID = "fc4ccb5f-8046-4812-803f-6c344a5d1560"
BUSY_OID = "0a1b2c3d-4e5f-4061-8272-839405a6b7c8"
QUEUE_NUMBER = "+18005550100"
FALLBACK = "+18005550199"
SECRET = "event-grid-secret"
MEDIA_SECRET = "acs-media-secret"
LINE_NUMBER = "+18331234567"


@pytest.fixture(scope="module")
def acs():
    standin = AcsStandIn()
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def graph():
    standin = GraphStandIn()
    standin.availability = {AGENT_OID: "Available", BUSY_OID: "Busy"}
    yield standin
    standin.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, webhook, acs, graph):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-acs"),
        {
            "VOICEBOT_ACS__ENDPOINT": acs.url,
            "VOICEBOT_ACS__ACCESS_KEY": ACCESS_KEY,
            "VOICEBOT_ACS__INCOMING_SECRET": SECRET,
            "VOICEBOT_ACS__RESOURCE_ID": RESOURCE_ID,
            "VOICEBOT_ACS__JWKS_URL": acs.url + "/calling/keys",
            "VOICEBOT_ACS__QUEUES": json.dumps({"support": QUEUE_NUMBER}),
            "VOICEBOT_ACS__TEAMS_AGENTS": json.dumps([BUSY_OID, AGENT_OID]),
            "VOICEBOT_ACS__GRAPH__TENANT_ID": TENANT,
            "VOICEBOT_ACS__GRAPH__CLIENT_ID": CLIENT_ID,
            "VOICEBOT_ACS__GRAPH__CLIENT_SECRET": CLIENT_SECRET,
            "VOICEBOT_ACS__GRAPH__AUTHORITY_URL": graph.url,
            "VOICEBOT_ACS__GRAPH__URL": graph.url,
            "VOICEBOT_ACS__FALLBACK_NUMBER": FALLBACK,
            "VOICEBOT_ACCESS__MEDIA_SECRET": MEDIA_SECRET,
            "VOICEBOT_SCREEN_POP__WEBHOOK_URL": webhook.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": WEBHOOK_SECRET,
        },
    )
    yield urls
    stop_server(proc, log)


def incoming_call(caller: str) -> tuple[str, list[dict]]:
    """An Event Grid delivery of ``Microsoft.Communication.IncomingCall`` (Event Grid schema), and its call's id."""
    correlation = str(uuid.uuid4())
    data = {
        "to": {"kind": "PhoneNumber", "rawId": f"4:{LINE_NUMBER}", "phoneNumber": {"value": LINE_NUMBER}},
        "from": {"kind": "PhoneNumber", "rawId": f"4:{caller}", "phoneNumber": {"value": caller}},
        "callerDisplayName": "",
        "incomingCallContext": f"eyJhbGciOiJub25lIn0.{uuid.uuid4().hex}",
        "customContext": {"sipHeaders": {}, "voipHeaders": {}},
        "serverCallId": uuid.uuid4().hex,
        "correlationId": correlation,
    }
    event = {"id": str(uuid.uuid4()), "topic": "/subscriptions/x/resourcegroups/y/providers/microsoft.communication/"
             "communicationservices/voicebot", "subject": f"/caller/4:{caller}/recipient/4:{LINE_NUMBER}",
             "data": data, "eventType": "Microsoft.Communication.IncomingCall", "dataVersion": "1.0",
             "metadataVersion": "1", "eventTime": "2026-12-01T10:00:00.0000000Z"}  # fmt: skip
    return correlation, [event]


def deliver(server, events: list[dict], code: str | None = SECRET, kind: str = "Notification") -> httpx.Response:
    params = {"code": code} if code else {}
    return httpx.post(f"{server['http']}/acs/incoming", params=params, json=events, headers={"aeg-event-type": kind})


def callback(server, answer: dict, acs: AcsStandIn, kind: str, token: str | None = None, **data) -> httpx.Response:
    """A Call Automation callback (CloudEvents array) to the callbackUri the bot answered with, signed as ACS signs."""
    connection = next(c for c, ctx in acs.connections.items() if ctx == answer["incomingCallContext"])
    event = {"id": str(uuid.uuid4()), "source": f"calling/callConnections/{connection}",
             "type": f"Microsoft.Communication.{kind}", "specversion": "1.0", "datacontenttype": "application/json",
             "time": "2026-12-01T10:00:01Z", "subject": f"calling/callConnections/{connection}",
             "data": {"callConnectionId": connection, "serverCallId": "x", "correlationId": "y",
                      "resultInformation": {"code": 200, "subCode": 0, "message": kind}, **data}}  # fmt: skip
    bearer = token if token is not None else acs.mint()
    return httpx.post(answer["callbackUri"], json=[event], headers={"Authorization": f"Bearer {bearer}"})


def answered(acs: AcsStandIn, correlation: str) -> dict:
    [answer] = [a for a in acs.answers if parse_qs(urlsplit(a["callbackUri"]).query)["call"] == [correlation]]
    return answer


def media_client(answer: dict, acs: AcsStandIn, caller: str, token: str | None = "mint") -> AcsMediaClient:
    url = answer["mediaStreamingOptions"]["transportUrl"]
    call = parse_qs(urlsplit(url).query)["call"][0]
    connection = next(c for c, ctx in acs.connections.items() if ctx == answer["incomingCallContext"])
    bearer = acs.mint(lifetime=86400) if token == "mint" else token
    return AcsMediaClient(url, bearer, call, connection, caller)


def heard(whisper, client: AcsMediaClient) -> str:
    pcm = np.frombuffer(bytes(client.bot_audio), dtype=np.int16)
    return transcribe_8k(whisper, soxr.resample(pcm, 16000, 8000).astype(np.int16).tobytes())


def speech_16k(voice, text: str) -> bytes:
    pcm = np.frombuffer(speak(voice, text), dtype=np.int16)
    return soxr.resample(pcm, 8000, 16000).astype(np.int16).tobytes() + b"\x00" * 32000


def test_event_grid_validates_the_subscription_and_needs_its_secret(server):
    kind = "Microsoft.EventGrid.SubscriptionValidationEvent"
    validation = [{"id": "1", "topic": "", "subject": "", "eventType": kind,
                   "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                            "validationUrl": "https://rp-eastus2.eventgrid.azure.net:553/x"},
                   "eventTime": "2026-12-01T10:00:00Z", "metadataVersion": "1", "dataVersion": "1"}]  # fmt: skip
    reply = deliver(server, validation, kind="SubscriptionValidation")
    assert reply.status_code == 200 and reply.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    assert deliver(server, validation, code="wrong").status_code == 401
    options = httpx.options(f"{server['http']}/acs/incoming", headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert options.headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


async def test_a_known_caller_is_answered_greeted_and_handed_to_the_available_teams_agent_with_the_pop(
    server, acs, webhook, whisper, caller_voice
):
    correlation, events = incoming_call(JANE)
    assert deliver(server, events).status_code == 200
    answer = answered(acs, correlation)
    options = answer["mediaStreamingOptions"]
    assert options["enableBidirectional"] and options["audioFormat"] == "pcm16KMono" and options["enableDtmfTones"]
    assert callback(server, answer, acs, "CallConnected").status_code == 204
    async with media_client(answer, acs, JANE) as client:
        await client.wait_for_quiet()
        assert says(heard(whisper, client), "Hi Jane") and says(heard(whisper, client), "keeps dropping the connection")
        await client.say(speech_16k(caller_voice, "I'd like to talk to a person, please."))
        await asyncio.wait_for(client.closed.wait(), 20)
    [(connection, transfer)] = [t for t in acs.transfers if t[0] in acs.connections and
                                acs.connections[t[0]] == answer["incomingCallContext"]]  # fmt: skip
    target = transfer["targetParticipant"]
    assert target["rawId"] == f"8:orgid:{AGENT_OID}" and target["microsoftTeamsUser"]["userId"] == AGENT_OID
    voip = transfer["customCallingContext"]["voipHeaders"]
    pop = screen_pop(webhook, correlation)
    assert voip["screenPopId"] == pop["id"] and voip["caseNumber"] == "CAS-01234" and voip["customerName"] == "Jane Doe"
    assert pop["transfer"]["target"] == f"8:orgid:{AGENT_OID}"
    assert "fc4ccb5f is Available" in pop["transfer"]["why"] and "0a1b2c3d Busy" in pop["transfer"]["why"]
    assert callback(server, answer, acs, "CallTransferAccepted").status_code == 204
    assert callback(server, answer, acs, "CallDisconnected").status_code == 204
    rec = record(server, correlation)
    assert rec["platform"] == "acs" and rec["ani_e164"] == JANE and rec["outcome"] == "transferred"
    kinds = [e["kind"] for e in rec["events"]]
    assert "acs_call_connected" in kinds and "transfer_requested" in kinds and "acs_call_transfer_accepted" in kinds


async def test_a_transfer_acs_reports_failed_goes_on_to_the_fallback_number(server, acs, whisper):
    correlation, events = incoming_call(JANE)
    deliver(server, events)
    answer = answered(acs, correlation)
    async with media_client(answer, acs, JANE) as client:
        await client.wait_for_quiet()
        await client.press("1")
        await asyncio.wait_for(client.closed.wait(), 20)
    assert callback(server, answer, acs, "CallTransferFailed", resultInformation={"code": 500, "subCode": 7503,
                    "message": "Teams user did not answer"}).status_code == 204  # fmt: skip
    mine = [body for c, body in acs.transfers if acs.connections[c] == answer["incomingCallContext"]]
    assert [t["targetParticipant"]["rawId"] for t in mine] == [f"8:orgid:{AGENT_OID}", f"4:{QUEUE_NUMBER}"]
    assert "customCallingContext" not in mine[1]  # VoIP headers ride VoIP calls only
    kinds = [e["kind"] for e in record(server, correlation)["events"]]
    assert kinds.count("transfer_requested") == 2 and "acs_call_transfer_failed" in kinds


async def test_with_every_teams_agent_busy_the_caller_goes_to_the_queue_and_the_pop_says_why(
    server, acs, graph, webhook
):
    graph.availability = {AGENT_OID: "DoNotDisturb", BUSY_OID: "Busy"}
    try:
        correlation, events = incoming_call(UNKNOWN)
        deliver(server, events)
        answer = answered(acs, correlation)
        async with media_client(answer, acs, UNKNOWN) as client:  # an unknown caller goes straight to an agent
            await asyncio.wait_for(client.closed.wait(), 30)
    finally:
        graph.availability = {AGENT_OID: "Available", BUSY_OID: "Busy"}
    mine = [body for c, body in acs.transfers if acs.connections[c] == answer["incomingCallContext"]]
    assert [t["targetParticipant"]["rawId"] for t in mine] == [f"4:{QUEUE_NUMBER}"]
    pop = screen_pop(webhook, correlation)
    assert pop["reason"] == "unknown_caller" and pop["customer"] is None
    assert "no Teams agent Available" in pop["transfer"]["why"] and "DoNotDisturb" in pop["transfer"]["why"]


async def test_a_caller_who_is_all_set_is_hung_up_for_everyone(server, acs):
    correlation, events = incoming_call("+14155550142")  # Carlos
    deliver(server, events)
    answer = answered(acs, correlation)
    async with media_client(answer, acs, "+14155550142") as client:
        await client.wait_for_quiet()
        await client.press("2")
        await asyncio.wait_for(client.closed.wait(), 20)
    connection = next(c for c, ctx in acs.connections.items() if ctx == answer["incomingCallContext"])
    assert connection in acs.terminated
    assert record(server, correlation)["outcome"] == "completed"


async def test_barge_in_stops_the_queued_audio_with_stop_audio(server, acs, caller_voice):
    correlation, events = incoming_call(JANE)
    deliver(server, events)
    answer = answered(acs, correlation)
    async with media_client(answer, acs, JANE) as client:
        while not client.bot_audio:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
        await client.say(speech_16k(caller_voice, "Representative, please."))
        await asyncio.wait_for(client.closed.wait(), 20)
    assert client.stops >= 1
    assert any(e["kind"] == "barge_in" for e in record(server, correlation)["events"])


async def test_forged_jwts_and_tokens_are_refused_on_callbacks_and_the_media_upgrade(server, acs):
    correlation, events = incoming_call(UNKNOWN)
    deliver(server, events)
    answer = answered(acs, correlation)
    assert (
        callback(server, answer, acs, "CallConnected", token=acs.mint(audience="another-resource")).status_code == 401
    )
    assert callback(server, answer, acs, "CallConnected", token="not-a-jwt").status_code == 401
    forged = dict(answer, callbackUri=answer["callbackUri"].replace("token=", "token=0"))
    assert callback(server, forged, acs, "CallConnected").status_code == 401
    for bearer in (None, acs.mint(audience="another-resource")):
        with pytest.raises(Exception) as refused:
            async with media_client(answer, acs, UNKNOWN, token=bearer):
                pass
        assert "403" in str(refused.value)


async def test_a_call_beyond_capacity_is_sent_on_to_the_queue_unanswered(tmp_path, acs, graph):
    proc, log, full = start_server(
        tmp_path,
        {
            "VOICEBOT_ACS__ENDPOINT": acs.url,
            "VOICEBOT_ACS__ACCESS_KEY": ACCESS_KEY,
            "VOICEBOT_ACS__QUEUES": json.dumps({"support": QUEUE_NUMBER}),
            "VOICEBOT_LIMITS__MAX_CALLS": "1",
        },
    )
    try:
        first, events = incoming_call(JANE)
        assert deliver(full, events, code=None).status_code == 200  # local: no secret configured
        async with media_client(answered(acs, first), acs, JANE, token=None) as holding:
            while not holding.bot_audio:
                await asyncio.sleep(0.05)
            second, events = incoming_call(UNKNOWN)
            before = len(acs.answers)
            assert deliver(full, events, code=None).status_code == 200
            assert len(acs.answers) == before  # not answered here
            context = events[0]["data"]["incomingCallContext"]
            [redirect] = [r for r in acs.redirects if r["incomingCallContext"] == context]
            assert redirect["target"]["rawId"] == f"4:{QUEUE_NUMBER}"
        metrics = httpx.get(full["http"] + "/api/metrics").json()
        assert metrics["counters"]["calls_refused"] == 1
    finally:
        stop_server(proc, log)


async def test_a_caller_who_hangs_up_is_noted_as_abandoned_and_the_disconnect_recorded(server, acs):
    correlation, events = incoming_call(JANE)
    deliver(server, events)
    answer = answered(acs, correlation)
    async with media_client(answer, acs, JANE) as client:
        while not client.bot_audio:
            await asyncio.sleep(0.05)
    # ACS ends the media stream when the caller hangs up, then reports the call disconnected.
    assert callback(server, answer, acs, "CallDisconnected").status_code == 204
    rec = record(server, correlation)
    assert rec["outcome"] == "abandoned" and rec["outcome_reason"] == "caller_hung_up"
    assert "acs_call_disconnected" in [e["kind"] for e in record(server, correlation)["events"]]
    connection = next(c for c, ctx in acs.connections.items() if ctx == answer["incomingCallContext"])
    assert connection not in acs.terminated and not [t for t in acs.transfers if t[0] == connection]
