"""``GET /metrics``: Prometheus's text format, read by Prometheus's own parser after a real call.

The session server (embedded CRM, webhook pops) takes one call from Jane, who
asks for an agent; what the scrape shows must be what happened on that call.
The counts are read as differences from a scrape just before the call, since
the session server takes other tests' calls too.
"""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import record
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"


def scrape(server: dict) -> dict[tuple[str, tuple], float]:
    response = httpx.get(f"{server['http']}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_call_shows_in_the_series_an_operator_graphs(server, caller_voice):
    before = scrape(server)
    async with TwilioCaller(server["ws"], caller=JANE) as call:
        await call.wait_for_prompts(1)
        during = scrape(server)
        await call.say(caller_voice.synthesize("I would like to talk to a person, please."))
        await call.wait_closed(30)
    assert record(server, call.call_sid)["outcome"] == "transferred"
    deadline = time.monotonic() + 10
    while True:  # the post-call note is delivered through the outbox just after the call
        after = scrape(server)
        delivered = value(after, "voicebot_outbox_items", status="done") > value(
            before, "voicebot_outbox_items", status="done"
        )
        if delivered or time.monotonic() > deadline:
            break
        time.sleep(0.2)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(during, "voicebot_calls_in_progress") >= 1
    assert value(after, "voicebot_calls_in_progress") == 0
    assert grew("voicebot_calls_total", platform="twilio", outcome="transferred") == 1
    assert grew("voicebot_handoffs_total", reason="caller_requested_agent") == 1
    assert grew("voicebot_greeting_latency_seconds_count") == 1
    assert grew("voicebot_reply_latency_seconds_count") >= 1
    assert 0 < grew("voicebot_reply_latency_seconds_sum") < 5 * grew("voicebot_reply_latency_seconds_count")
    assert grew("voicebot_stt_seconds_count") >= 1
    assert grew("voicebot_tts_first_audio_seconds_count") >= 1
    lookups = dict(backend="local", operation="find_customer", result="ok")
    assert grew("voicebot_crm_request_seconds_count", **lookups) == 1
    assert grew("voicebot_crm_request_seconds_count", backend="local", operation="add_note", result="ok") == 1
    assert delivered
    assert value(after, "voicebot_outbox_oldest_pending_seconds") >= 0
    assert value(after, "voicebot_event_loop_lag_seconds_count") > 0
