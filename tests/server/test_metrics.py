"""Server timings and the percentiles every report uses."""

from __future__ import annotations

import asyncio
import gc
import time

from voicebot.server.metrics import Timings, describe_ms, percentile, watch_collections, watch_event_loop


def test_percentiles_interpolate_like_numpy():
    values = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert percentile(values, 0.5) == 30.0
    assert percentile(values, 0.95) == 48.0
    assert percentile([7.0], 0.95) == 7.0
    assert describe_ms(values) == {"count": 5, "p50_ms": 30.0, "p95_ms": 48.0, "p99_ms": 49.6, "max_ms": 50.0}


def test_timings_are_summarised_per_name_since_a_moment():
    timings = Timings(window=3)
    timings.observe("stt", 0.100)
    cut = time.time()
    time.sleep(0.01)
    for seconds in (0.200, 0.300, 0.400):
        timings.observe("stt", seconds)
    timings.observe("tts_first_audio", 0.050)
    assert timings.summary()["stt"]["count"] == 3  # the window keeps the latest three
    assert timings.summary(since=cut)["stt"] == {
        "count": 3,
        "p50_ms": 300.0,
        "p95_ms": 390.0,
        "p99_ms": 398.0,
        "max_ms": 400.0,
    }
    assert timings.summary(since=time.time() + 1) == {}


async def test_the_event_loop_watch_records_how_late_the_loop_wakes():
    timings = Timings()
    watch = asyncio.create_task(watch_event_loop(timings))
    await asyncio.sleep(0.1)
    time.sleep(0.15)  # the loop is blocked: the watch wakes at least 100 ms late once
    await asyncio.sleep(0.05)
    watch.cancel()
    lag = timings.summary()["event_loop_lag"]
    assert lag["count"] >= 3
    assert lag["max_ms"] >= 100


def test_full_collections_are_timed_and_the_younger_ones_are_not():
    timings = Timings()
    stop = watch_collections(timings)
    try:
        gc.collect(0)
        gc.collect(1)
        assert "gc_pause" not in timings.summary()
        gc.collect()
        assert timings.summary()["gc_pause"]["count"] == 1
    finally:
        stop()
    gc.collect()
    assert timings.summary()["gc_pause"]["count"] == 1  # no longer watching
