"""Whole calls over Genesys Cloud AudioConnector, against a client that behaves like Genesys."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.e2e.conftest import record, screen_pop, start_server, stop_server
from tests.e2e.genesys_client import GenesysClient
from voicebot.scenarios.hearing import says, transcribe_8k

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


def url(server) -> str:
    return server["ws"].replace("/twilio/media", "/genesys/audioconnector")


async def test_a_genesys_caller_is_greeted_and_handed_to_a_queue_with_output_variables(server, webhook, whisper):
    async with GenesysClient(url(server), JANE) as genesys:
        opened = await genesys.open()
        assert opened["type"] == "opened" and opened["clientseq"] == 1
        assert opened["parameters"]["media"][0] == {
            "type": "audio",
            "format": "PCMU",
            "channels": ["external"],
            "rate": 8000,
        }
        await genesys.wait_for_quiet()
        heard = transcribe_8k(whisper, bytes(genesys.bot_audio))
        assert says(heard, "Hi, Jane") and says(heard, "keeps dropping the connection")
        await genesys.send("ping")
        pong = await genesys.wait_for("pong")
        assert pong["clientseq"] == genesys.seq
        await genesys.send("dtmf", {"digit": "1"})
        disconnect = await genesys.wait_for("disconnect")
        closed = await genesys.wait_for("closed", timeout=10)
        await asyncio.wait_for(genesys.closed.wait(), 10)

    params = disconnect["parameters"]
    assert params["reason"] == "completed"
    variables = params["outputVariables"]
    assert all(isinstance(v, str) for v in variables.values())
    assert variables["action"] == "transfer" and variables["queue"] == "support"
    assert variables["customerName"] == "Jane Doe" and variables["caseNumber"] == "CAS-01234"
    assert variables["screenPopUrl"].endswith("/crm/cases/" + record(server, genesys.conversation_id)["case"]["id"])
    assert "Jane Doe called about case CAS-01234" in variables["summary"]
    assert closed["type"] == "closed"
    assert says(transcribe_8k(whisper, bytes(genesys.bot_audio)), "connecting you to an agent")

    rec = record(server, genesys.conversation_id)
    assert rec["platform"] == "genesys" and rec["ani_e164"] == JANE and rec["stream_id"] == genesys.session_id
    assert rec["outcome"] == "transferred" and [d["digit"] for d in rec["dtmf"]] == ["1"]
    pop = screen_pop(webhook, genesys.conversation_id)
    assert pop["call"]["platform"] == "genesys" and pop["id"] == variables["screenPopId"]


async def test_genesys_closing_the_session_is_answered_and_the_call_kept(server):
    async with GenesysClient(url(server), JANE) as genesys:
        await genesys.open()
        await asyncio.sleep(1.0)
        await genesys.send("close", {"reason": "end"})
        closed = await genesys.wait_for("closed", timeout=10)
    assert closed["clientseq"] == 2
    assert record(server, genesys.conversation_id)["outcome"] == "abandoned"


async def test_an_out_of_order_seq_ends_the_session_with_a_protocol_error(server):
    async with GenesysClient(url(server), JANE) as genesys:
        await genesys.open()
        await genesys.send("ping", seq=7)
        disconnect = await genesys.wait_for("disconnect", timeout=10)
    assert disconnect["parameters"]["reason"] == "error" and "seq" in disconnect["parameters"]["info"]
    rec = record(server, genesys.conversation_id)
    assert rec["outcome"] == "error" and "out-of-order seq" in rec["outcome_reason"]


async def test_an_unknown_message_type_ends_the_session_with_a_protocol_error(server):
    async with GenesysClient(url(server), JANE) as genesys:
        await genesys.open()
        await genesys.send("teleport")
        disconnect = await genesys.wait_for("disconnect", timeout=10)
    assert disconnect["parameters"]["reason"] == "error" and "teleport" in disconnect["parameters"]["info"]


async def test_an_open_without_a_participant_is_refused_as_the_protocol_says(server):
    async with GenesysClient(url(server), JANE) as genesys:
        message = genesys.open_message()
        del message["parameters"]["participant"]
        await genesys.ws.send(json.dumps(message))
        reply = json.loads(await asyncio.wait_for(genesys.ws.recv(), 10))
    assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "error"
    assert "participant" in reply["parameters"]["info"]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-genesys"), {"VOICEBOT_GENESYS__API_KEY": "genesys-key"}
    )
    yield urls
    stop_server(proc, log)


async def test_the_api_key_is_checked_before_the_session_starts(keyed_server):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with GenesysClient(url(keyed_server), JANE, api_key="wrong"):
            pass
    assert refused.value.response.status_code == 403
    async with GenesysClient(url(keyed_server), JANE, api_key="genesys-key") as genesys:
        assert (await genesys.open())["type"] == "opened"


async def test_after_an_unknown_message_the_disconnect_counts_it_and_the_close_is_answered(server):
    """As the AudioHook reference server does: seq is counted before the type is looked at, and after the one
    error ``disconnect`` Genesys's ``close`` (the client sends it on ``disconnect``) gets ``closed``."""
    async with GenesysClient(url(server), JANE) as genesys:
        await genesys.open()
        await genesys.send("mystery", {})
        unknown_seq = genesys.seq
        disconnect = await genesys.wait_for("disconnect", timeout=10)
        error = disconnect["parameters"]
        assert error["reason"] == "error" and "unknown message type" in error["info"]
        assert disconnect["clientseq"] == unknown_seq
        closed = await genesys.wait_for("closed", timeout=2)  # at once, not after our 5 s wait for a close
        assert closed["clientseq"] == unknown_seq + 1  # the close that answered the disconnect
        await asyncio.sleep(0.5)
    assert [m["type"] for m in genesys.messages] == ["opened", "disconnect", "closed"]
