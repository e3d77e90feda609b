"""The Prometheus series: a CRM failure is counted by type and still reaches the caller's code; the outbox's age."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from voicebot.server.metrics import Timings
from voicebot.server.prometheus import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for s in family.samples
    }


class Unreachable(Exception):
    pass


async def test_a_failed_crm_request_is_timed_counted_by_type_and_raised():
    metrics = Metrics()

    async def fails() -> None:
        raise Unreachable("no route")

    with pytest.raises(Unreachable):
        await metrics.crm("zendesk", "find_customer", fails)
    got = samples(metrics)
    error = (("backend", "zendesk"), ("error", "Unreachable"), ("operation", "find_customer"))
    assert got[("voicebot_crm_errors_total", error)] == 1
    timed = (("backend", "zendesk"), ("operation", "find_customer"), ("result", "error"))
    assert got[("voicebot_crm_request_seconds_count", timed)] == 1


async def test_a_request_cut_by_the_time_budget_is_timed_as_cancelled():
    metrics = Metrics()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await metrics.crm("dynamics", "latest_case", lambda: asyncio.sleep(1))
    cancelled = (("backend", "dynamics"), ("operation", "latest_case"), ("result", "cancelled"))
    assert samples(metrics)[("voicebot_crm_request_seconds_count", cancelled)] == 1


def test_the_outbox_gauges_show_depth_and_the_oldest_items_age():
    metrics = Metrics()
    queued = (datetime.now(UTC) - timedelta(seconds=90)).isoformat(timespec="milliseconds")
    metrics.outbox({"pending": 3, "done": 10, "parked": 1}, queued)
    got = samples(metrics)
    assert got[("voicebot_outbox_items", (("status", "pending"),))] == 3
    assert got[("voicebot_outbox_items", (("status", "parked"),))] == 1
    assert 89 < got[("voicebot_outbox_oldest_pending_seconds", ())] < 120
    metrics.outbox({"pending": 0, "done": 13, "parked": 1}, None)
    assert samples(metrics)[("voicebot_outbox_oldest_pending_seconds", ())] == 0


def test_timings_feed_the_histograms_that_exist_and_skip_the_rest():
    metrics = Metrics()
    timings = Timings(metrics=metrics)
    timings.observe("stt", 0.12)
    timings.observe("turn_wait_answer", 0.45)  # no histogram of its own: kept for /api/metrics only
    got = samples(metrics)
    assert got[("voicebot_stt_seconds_count", ())] == 1
    assert got[("voicebot_stt_seconds_bucket", (("le", "0.15"),))] == 1
    assert got[("voicebot_stt_seconds_bucket", (("le", "0.1"),))] == 0
    assert timings.summary()["turn_wait_answer"]["count"] == 1


def test_two_apps_in_one_process_keep_their_own_series():
    first, second = Metrics(), Metrics()
    first.calls.labels("twilio", "completed").inc()
    assert ("voicebot_calls_total", (("outcome", "completed"), ("platform", "twilio"))) not in samples(second)


def test_the_grafana_dashboard_asks_only_for_series_that_exist():
    dashboard = json.loads((Path(__file__).parents[2] / "docs/grafana/voicebot.json").read_text())
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"], "gauge": [""]}
    exposed = {family.name + suffix for family in Metrics().registry.collect() for suffix in suffixes[family.type]}
    asked = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bvoicebot_[a-z_]+", target["expr"])
    }
    asked |= set(re.findall(r"\bvoicebot_[a-z_]+", json.dumps(dashboard["templating"])))
    assert asked and asked <= exposed, asked - exposed
