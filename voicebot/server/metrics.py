"""Timings a server process keeps about its own work: speech recognition and synthesis per turn.

The benchmark reads them over ``/api/metrics`` to split a reply's latency into
its parts (transcribing, rendering the first audio). Samples are kept in a
bounded window per name, with the wall-clock time they were taken, so a reader
can ask for the samples since the start of its run.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from voicebot.server.prometheus import Metrics

WINDOW = 20_000  # samples kept per name


class Timings:
    """``metrics`` also gets every sample, for the Prometheus histograms of ``/metrics``."""

    def __init__(self, window: int = WINDOW, metrics: Metrics | None = None):
        self._samples: dict[str, deque[tuple[float, float]]] = {}
        self._window = window
        self._lock = threading.Lock()
        self._metrics = metrics

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            self._samples.setdefault(name, deque(maxlen=self._window)).append((time.time(), seconds))
        if self._metrics is not None:
            self._metrics.timing(name, seconds)

    def summary(self, since: float = 0.0) -> dict[str, dict[str, Any]]:
        """Per name: count, p50, p95, p99 and max in milliseconds, over samples taken at or after ``since`` (epoch)."""
        with self._lock:
            values = {name: [s for at, s in samples if at >= since] for name, samples in self._samples.items()}
        return {name: describe_ms([s * 1000 for s in v]) for name, v in sorted(values.items()) if v}


class Counters:
    """Things a server process counts: calls refused at capacity, calls ended by a limit."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self._counts.items()))


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def describe_ms(ms: list[float]) -> dict[str, Any]:
    """count, p50, p95, p99 and max of millisecond values."""
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 0.5), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
    }


LOOP_TICK_SECS = 0.02


async def watch_event_loop(timings: Timings, name: str = "event_loop_lag") -> None:
    """Record how late the event loop wakes from a 20 ms sleep, until cancelled.

    Every call's audio is paced by sleeps on this loop; a loop that wakes late
    sends bot audio late, and the caller's playout runs dry.
    """
    while True:
        started = time.perf_counter()
        await asyncio.sleep(LOOP_TICK_SECS)
        timings.observe(name, max(0.0, time.perf_counter() - started - LOOP_TICK_SECS))


def watch_collections(timings: Timings, name: str = "gc_pause") -> Callable[[], None]:
    """Record each full (generation 2) garbage collection's pause; returns what stops recording.

    A full collection holds the GIL, and so every call's audio, for as long as it
    takes to walk every object the process has.
    """
    started = 0.0

    def callback(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if info.get("generation") != 2:
            return
        if phase == "start":
            started = time.perf_counter()
        else:
            timings.observe(name, time.perf_counter() - started)

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)
