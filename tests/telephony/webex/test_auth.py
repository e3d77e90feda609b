"""A real gRPC server on loopback: Virtual Agent RPCs need the broker's token, health checks do not.

The client side uses only the published method paths and message names, as
Webex's harness would. The servicer here lists agents and nothing else, so a
valid token on ProcessCallerInput reaches UNIMPLEMENTED: past the check.
"""

from __future__ import annotations

import grpc
import pytest
from grpc import aio

from tests.standins.idbroker import DATASOURCE_URL, IdBroker
from voicebot.telephony.webex.auth import WebexTokenInterceptor, is_local_peer
from voicebot.telephony.webex.health import add_health
from voicebot.telephony.webex.jws import TokenVerifier
from voicebot.telephony.webex.proto import (
    byova_pb2,
    byova_pb2_grpc,
    cisco_health_pb2,
    cisco_health_pb2_grpc,
    health_pb2,
    health_pb2_grpc,
)


class Agents(byova_pb2_grpc.VoiceVirtualAgentServicer):
    async def ListVirtualAgents(self, request, context):  # noqa: N802
        return byova_pb2.ListVAResponse(
            virtual_agents=[byova_pb2.VirtualAgentInfo(virtual_agent_id="voicebot", virtual_agent_name="voicebot")]
        )


@pytest.fixture
def broker():
    standin = IdBroker()
    yield standin
    standin.close()


@pytest.fixture
async def channel(broker):
    verifier = TokenVerifier(DATASOURCE_URL, issuers=frozenset({broker.issuer}))
    server = aio.server(interceptors=[WebexTokenInterceptor(verifier)])
    byova_pb2_grpc.add_VoiceVirtualAgentServicer_to_server(Agents(), server)
    add_health(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    await server.stop(None)
    await verifier.aclose()


async def test_listing_the_agents_needs_the_token(broker, channel):
    agents = byova_pb2_grpc.VoiceVirtualAgentStub(channel)
    listed = await agents.ListVirtualAgents(
        byova_pb2.ListVARequest(customer_org_id="org-1234"), metadata=(("authorization", broker.mint()),)
    )
    assert [a.virtual_agent_id for a in listed.virtual_agents] == ["voicebot"]
    with pytest.raises(aio.AioRpcError) as refused:
        await agents.ListVirtualAgents(byova_pb2.ListVARequest(), metadata=(("trackingid", "t-1"),))
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED


async def test_the_turn_stream_without_a_valid_token_is_refused_as_a_stream(broker, channel):
    agents = byova_pb2_grpc.VoiceVirtualAgentStub(channel)
    start = byova_pb2.VoiceVARequest(
        conversation_id="conv-1", event_input=byova_pb2.EventInput(event_type=byova_pb2.EventInput.SESSION_START)
    )
    forged = broker.mint(**{"com.cisco.datasource.url": "https://elsewhere.example.com"})
    call = agents.ProcessCallerInput(iter([start]), metadata=(("authorization", "Bearer " + forged),))
    with pytest.raises(aio.AioRpcError) as refused:
        async for _ in call:
            pass
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert "data source URL" in refused.value.details()
    passed = agents.ProcessCallerInput(iter([start]), metadata=(("authorization", broker.mint()),))
    with pytest.raises(aio.AioRpcError) as unbuilt:
        async for _ in passed:
            pass
    assert unbuilt.value.code() is grpc.StatusCode.UNIMPLEMENTED


async def test_both_health_services_answer_serving_without_a_token(channel):
    standard = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    cisco = await cisco_health_pb2_grpc.HealthStub(channel).Check(cisco_health_pb2.HealthCheckRequest())
    assert standard.status == health_pb2.HealthCheckResponse.SERVING
    assert cisco.status == cisco_health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
async def local_channel():
    server = aio.server(interceptors=[WebexTokenInterceptor(None)])
    byova_pb2_grpc.add_VoiceVirtualAgentServicer_to_server(Agents(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with aio.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    await server.stop(None)


async def test_without_a_registered_data_source_a_local_client_needs_no_token(local_channel):
    listed = await byova_pb2_grpc.VoiceVirtualAgentStub(local_channel).ListVirtualAgents(byova_pb2.ListVARequest())
    assert [a.virtual_agent_id for a in listed.virtual_agents] == ["voicebot"]


@pytest.mark.parametrize(
    ("peer", "local"),
    [
        ("ipv4:127.0.0.1:50000", True),
        ("ipv6:[::1]:50000", True),
        ("unix:/tmp/voicebot.sock", True),
        ("ipv4:10.1.2.3:50000", False),
        ("ipv6:[2001:db8::1]:443", False),
        ("ipv4:not-an-address:1", False),
    ],
)
def test_only_loopback_peers_count_as_local(peer, local):
    assert is_local_peer(peer) is local
