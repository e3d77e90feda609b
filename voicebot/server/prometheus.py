"""Prometheus series for ``GET /metrics``: what an operator graphs and alerts on.

Each series is named for what it counts, in base units (seconds), with labels
only where an operator splits by them (platform and outcome, hand-off reason,
CRM back end and operation). The outbox's depth and age are read from the
store at scrape time, so they hold for every process sharing it.

With ``voicebot serve --workers N`` the parent points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before the workers start; each worker writes its values
there and any worker's ``/metrics`` answers for all of them (prometheus-client's
multiprocess mode). One process alone keeps its series in memory.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# A caller notices a wait past 0.5 s and gives up near 5 s.
LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

T = TypeVar("T")


class Metrics:
    """One process's series, in a registry of its own (so several apps in one test process do not collide)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.calls_in_progress = Gauge(
            "voicebot_calls_in_progress", "Calls admitted and not yet ended", registry=r, multiprocess_mode="livesum"
        )
        self.calls = Counter(
            "voicebot_calls", "Calls ended, by platform and outcome", ["platform", "outcome"], registry=r
        )
        self.handoffs = Counter("voicebot_handoffs", "Calls handed to an agent, by reason", ["reason"], registry=r)
        self.refusals = Counter(
            "voicebot_calls_refused",
            "Calls refused: capacity (limits.max_calls), draining (SIGTERM), unauthorised",
            ["reason"],
            registry=r,
        )
        self.reply_latency = Histogram(
            "voicebot_reply_latency_seconds",
            "From the caller's last word to the bot's first audio out",
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.greeting_latency = Histogram(
            "voicebot_greeting_latency_seconds",
            "From the call's media start to the greeting's first audio out",
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.stt = Histogram("voicebot_stt_seconds", "Transcribing one caller turn", registry=r, buckets=STEP_BUCKETS)
        self.tts_first_audio = Histogram(
            "voicebot_tts_first_audio_seconds", "Rendering a reply's first sentence", registry=r, buckets=STEP_BUCKETS
        )
        self.smart_turn = Histogram(
            "voicebot_smart_turn_seconds", "Smart Turn judging one pause", registry=r, buckets=STEP_BUCKETS
        )
        self.event_loop_lag = Histogram(
            "voicebot_event_loop_lag_seconds",
            "How late the event loop that paces every call's audio wakes from a 20 ms sleep",
            registry=r,
            buckets=LAG_BUCKETS,
        )
        self.crm_requests = Histogram(
            "voicebot_crm_request_seconds",
            "CRM requests, by back end, operation and result (ok, error, or cancelled by the time budget)",
            ["backend", "operation", "result"],
            registry=r,
            buckets=STEP_BUCKETS,
        )
        self.crm_errors = Counter(
            "voicebot_crm_errors",
            "CRM requests that failed, by back end, operation and error",
            ["backend", "operation", "error"],
            registry=r,
        )
        self.outbox_items = Gauge(
            "voicebot_outbox_items", "Outbox items by status", ["status"], registry=r, multiprocess_mode="max"
        )
        self.outbox_oldest_pending = Gauge(
            "voicebot_outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox item (0 when none)",
            registry=r,
            multiprocess_mode="max",
        )
        self.store_held = Gauge(
            "voicebot_store_held_writes",
            "Call-record writes and outbox items held in memory while their store is unreachable",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.store_errors = Counter(
            "voicebot_store_errors", "Scrapes that could not read the outbox from its store", registry=r
        )
        self._timings = {
            "stt": self.stt,
            "tts_first_audio": self.tts_first_audio,
            "smart_turn": self.smart_turn,
            "event_loop_lag": self.event_loop_lag,
        }

    def timing(self, name: str, seconds: float) -> None:
        """A :class:`~voicebot.server.metrics.Timings` sample, for the names that have a histogram here."""
        histogram = self._timings.get(name)
        if histogram is not None:
            histogram.observe(seconds)

    async def crm(self, backend: str, operation: str, request: Callable[[], Awaitable[T]]) -> T:
        """Time one CRM request and count its failure by error type; the error still reaches the caller."""
        started = time.perf_counter()
        try:
            result = await request()
        except asyncio.CancelledError:  # the caller's budget ran out first (or the call ended)
            self.crm_requests.labels(backend, operation, "cancelled").observe(time.perf_counter() - started)
            raise
        except Exception as exc:
            self.crm_requests.labels(backend, operation, "error").observe(time.perf_counter() - started)
            self.crm_errors.labels(backend, operation, type(exc).__name__).inc()
            raise
        self.crm_requests.labels(backend, operation, "ok").observe(time.perf_counter() - started)
        return result

    def outbox(self, counts: dict[str, int], oldest_pending: str | None) -> None:
        for status, count in counts.items():
            self.outbox_items.labels(status).set(count)
        age = 0.0
        if oldest_pending is not None:
            age = max(0.0, time.time() - datetime.fromisoformat(oldest_pending).timestamp())
        self.outbox_oldest_pending.set(age)

    def exposition(self) -> bytes:
        """The text exposition format: this process's series, or every worker's in multiprocess mode."""
        directory = os.environ.get(MULTIPROC_ENV)
        if not directory:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)
        return generate_latest(merged)


def process_ended() -> None:
    """A worker leaving: its live gauges stop counting toward the sum (multiprocess mode only)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())
