"""Where an ACS caller goes: an Available Teams agent by Graph presence (round robin), else the queue, then the
fallback; each transfer signed and checked by the ACS stand-in, and a refusal moves on to the next target."""

from __future__ import annotations

import asyncio

import pytest

from tests.standins.acs import ACCESS_KEY, API_VERSION, AcsStandIn
from tests.standins.graph import CLIENT_ID, CLIENT_SECRET, TENANT, GraphStandIn
from voicebot.config import load_settings
from voicebot.storage.sqlite.records import SQLiteCallStore
from voicebot.telephony.acs.api import AcsCalls, Participant
from voicebot.telephony.acs.connections import AcsConnections
from voicebot.telephony.acs.presence import GraphPresence
from voicebot.tools.transfer import TransferTarget

ALICE, BOB, CAROL = (
    "11111111-aaaa-4aaa-8aaa-111111111111",
    "22222222-bbbb-4bbb-8bbb-222222222222",
    "33333333-cccc-4ccc-8ccc-333333333333",
)
QUEUE = TransferTarget("enqueue", "support")
QUEUE_NUMBER, FALLBACK = "+18005550100", "+18005550199"


@pytest.fixture
def acs():
    standin = AcsStandIn()
    yield standin
    standin.close()


@pytest.fixture
def graph():
    standin = GraphStandIn()
    yield standin
    standin.close()


@pytest.fixture
async def connections(acs, graph, tmp_path):
    settings = load_settings(
        environ={},
        acs={
            "endpoint": acs.url,
            "access_key": ACCESS_KEY,
            "api_version": API_VERSION,
            "queues": {"support": QUEUE_NUMBER},
            "fallback_number": FALLBACK,
            "teams_agents": [ALICE, BOB, CAROL],
            "teams_agents_by_reason": {"billing": [CAROL]},
            "presence_budget_secs": 0.5,
            "graph": {
                "tenant_id": TENANT,
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "authority_url": graph.url,
                "url": graph.url,
            },
        },
    )
    store = SQLiteCallStore(tmp_path / "calls.sqlite3")
    lines = AcsConnections(
        AcsCalls(acs.url, ACCESS_KEY, API_VERSION), settings.acs, settings.transfer, store, None,
        GraphPresence(settings.acs.graph),
    )  # fmt: skip
    yield lines
    await lines.aclose()
    await store.aclose()


def answered(connections: AcsConnections, acs: AcsStandIn, call_id: str) -> str:
    connection_id = f"conn-{call_id}"
    acs.connections[connection_id] = call_id
    connections.answered(call_id, connection_id, f"https://bot.example.com/acs/callbacks?call={call_id}")
    return connection_id


async def test_an_available_agent_is_chosen_and_the_pop_is_told_who_and_why(connections, acs, graph):
    graph.availability = {ALICE: "Busy", BOB: "Available", CAROL: "DoNotDisturb"}
    answered(connections, acs, "c1")
    chosen = await connections.choose("c1", QUEUE, "caller_requested_agent")
    assert chosen.target == f"8:orgid:{BOB}" and "22222222 is Available" in chosen.why
    assert "11111111 Busy" in chosen.why and "33333333 DoNotDisturb" in chosen.why


async def test_available_agents_take_calls_in_turn(connections, acs, graph):
    graph.availability = {ALICE: "Available", BOB: "AvailableIdle", CAROL: "Away"}
    picks = []
    for n in range(4):
        answered(connections, acs, f"r{n}")
        picks.append((await connections.choose(f"r{n}", QUEUE, "caller_requested_agent")).target)
    assert picks == [f"8:orgid:{a}" for a in (ALICE, BOB, ALICE, BOB)]
    assert graph.token_requests == 1  # the client-credentials token is cached


async def test_with_every_agent_busy_the_caller_goes_to_the_queue_and_the_pop_says_why(connections, acs, graph):
    graph.availability = {ALICE: "Busy", BOB: "Away", CAROL: "Offline"}
    answered(connections, acs, "c2")
    chosen = await connections.choose("c2", QUEUE, "caller_requested_agent")
    assert (chosen.mode, chosen.target) == ("enqueue", "support") and "no Teams agent Available" in chosen.why


async def test_a_reason_can_have_its_own_agents(connections, acs, graph):
    graph.availability = {ALICE: "Available", CAROL: "Available"}
    answered(connections, acs, "c3")
    assert (await connections.choose("c3", QUEUE, "billing")).target == f"8:orgid:{CAROL}"


async def test_a_slow_or_failing_graph_never_holds_the_caller_past_its_budget(connections, acs, graph):
    answered(connections, acs, "c4")
    graph.delay = 2.0
    started = asyncio.get_running_loop().time()
    slow = await connections.choose("c4", QUEUE, "caller_requested_agent")
    assert asyncio.get_running_loop().time() - started < 1.5
    assert slow.target == "support" and "did not answer in time" in slow.why
    graph.heal()
    graph.fail_next(503)
    failed = await connections.choose("c4", QUEUE, "caller_requested_agent")
    assert failed.target == "support" and "503" in failed.why


async def test_the_hand_off_tries_the_agent_then_the_others_then_the_queue_then_the_fallback(connections, acs, graph):
    graph.availability = {ALICE: "Available", BOB: "Available", CAROL: "Busy"}
    await connections.store.start_call("c5", "acs", None, "+14155552671", "+14155552671", None)
    connection_id = answered(connections, acs, "c5")
    chosen = await connections.choose("c5", QUEUE, "caller_requested_agent")
    acs.refuse_transfers_to = {f"8:orgid:{ALICE}"}  # refused at once: the next target is tried
    await connections.hand_over("c5", chosen, None, "")
    connection = connections.get("c5")
    assert [t.raw_id for t in connection.targets] == [
        f"8:orgid:{ALICE}", f"8:orgid:{BOB}", f"4:{QUEUE_NUMBER}", f"4:{FALLBACK}"
    ]  # fmt: skip
    assert [b["targetParticipant"]["rawId"] for c, b in acs.transfers if c == connection_id] == [f"8:orgid:{BOB}"]
    await connections.on_event("c5", {"type": "Microsoft.Communication.CallTransferFailed", "data": {}})
    assert [b["targetParticipant"]["rawId"] for c, b in acs.transfers if c == connection_id][-1] == f"4:{QUEUE_NUMBER}"
    record = await connections.store.get("c5")
    assert record is not None
    assert [e.kind for e in record.events] == [
        "transfer_failed", "transfer_requested", "acs_call_transfer_failed", "transfer_requested"
    ]  # fmt: skip


def test_targets_are_read_as_teams_users_or_numbers():
    assert Participant.parse(ALICE).raw_id == f"8:orgid:{ALICE}"
    assert Participant.parse(f"8:orgid:{ALICE.upper()}").id == ALICE
    assert Participant.parse("+14155552671").raw_id == "4:+14155552671"
    assert Participant.parse("support") is None
