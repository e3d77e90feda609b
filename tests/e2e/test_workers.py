"""``voicebot serve --workers 2``: two server processes on one port, one set of records, every call on every desktop."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from voicebot.bench.run import voicebot_server
from voicebot.scenarios.model import Call, Turn
from voicebot.scenarios.play import place_call

pytestmark = pytest.mark.e2e

UNKNOWN = "+15005550199"  # not in the demo CRM: a short call (apology, transfer)


def _sample(text: str, name: str, **labels: str) -> float:
    """One sample of a scrape, by Prometheus's own parser."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and sample.labels == labels
    )


async def desktop_events(http_url: str, seen: list[dict], ready: asyncio.Event) -> None:
    """One agent desktop's event stream (loopback needs no token)."""
    async with httpx.AsyncClient(timeout=None) as client:
        async with client.stream("GET", f"{http_url}/agent/events") as response:
            kind = None
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind != "snapshot":
                    seen.append(json.loads(line[6:]))
                elif line.startswith("data: "):
                    ready.set()


async def test_two_workers_share_the_port_the_records_and_the_agent_desktop(caller_voice):
    with voicebot_server(workers=2) as server:
        async with httpx.AsyncClient() as client:
            pids = set()
            for _ in range(200):  # whichever worker wakes first takes a connection: no fixed share
                async with httpx.AsyncClient() as fresh:  # a new connection each time
                    pids.add((await fresh.get(f"{server.http_url}/healthz")).json()["pid"])
                if len(pids) == 2:
                    break
            assert len(pids) == 2, "both workers answer on the one port"

            desktops = [([], asyncio.Event()) for _ in range(4)]
            streams = [asyncio.create_task(desktop_events(server.http_url, seen, ready)) for seen, ready in desktops]
            await asyncio.wait_for(asyncio.gather(*(ready.wait() for _, ready in desktops)), 30)

            calls = [Call(name=f"call {n}", ani=UNKNOWN, turns=[Turn()], timeout_secs=60) for n in range(4)]
            observations = await asyncio.gather(
                *(place_call(call, server.ws_url, server.http_url, caller_voice) for call in calls)
            )
            call_ids = {obs.call_id for obs in observations}
            assert all(obs.record and obs.record["outcome"] == "transferred" for obs in observations)
            assert len(call_ids) == 4
            await asyncio.sleep(1.0)  # the event log's poll
            for stream in streams:
                stream.cancel()

            # Every desktop, whichever worker it reached, saw every call start and end.
            for seen, _ in desktops:
                assert {e["call_id"] for e in seen if e["kind"] == "call_started"} == call_ids
                assert {e["call_id"] for e in seen if e["kind"] == "call_ended"} == call_ids
            recent = (await client.get(f"{server.http_url}/api/calls")).json()["calls"]
            assert call_ids <= {c["id"] for c in recent}, "one call store for both workers"

            # Whichever worker answers the scrape, it counts both workers' calls.
            answered_by = set()
            for _ in range(200):
                async with httpx.AsyncClient() as fresh:
                    health = await fresh.get(f"{server.http_url}/healthz")
                    scraped = await fresh.get(f"{server.http_url}/metrics")
                answered_by.add(health.json()["pid"])
                ended = _sample(scraped.text, "voicebot_calls_total", platform="twilio", outcome="transferred")
                assert ended == 4
                assert _sample(scraped.text, "voicebot_calls_in_progress") == 0
                if len(answered_by) == 2:
                    break
