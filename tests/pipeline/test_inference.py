"""The one queue for blocking model work: turn ends before look-aheads, stale work never runs, below the loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time

import pytest

from voicebot.pipeline.inference import INFERENCE_NICE, InferenceQueue, Priority, load_lowered
from voicebot.server.metrics import Timings


@contextlib.asynccontextmanager
async def worker_held(queue: InferenceQueue):
    """The queue's one worker busy for the block: what is queued meanwhile then runs in the queue's order."""
    gate = threading.Event()
    busy = asyncio.ensure_future(queue.run(Priority.NOW, gate.wait))
    await asyncio.sleep(0.05)  # the worker is now blocked on the gate
    yield
    await asyncio.sleep(0.05)  # everything asked for is in the queue
    gate.set()
    await busy


async def test_a_turn_that_has_ended_goes_before_look_aheads_waiting_in_the_queue():
    queue = InferenceQueue(workers=1)
    ran: list[str] = []
    async with worker_held(queue):
        looks = [asyncio.ensure_future(queue.run(Priority.AHEAD, ran.append, f"look {n}")) for n in range(3)]
        ending = asyncio.ensure_future(queue.run(Priority.NOW, ran.append, "turn end"))
    await asyncio.gather(ending, *looks)
    assert ran == ["turn end", "look 0", "look 1", "look 2"]
    queue.close()


async def test_speech_rendered_ahead_waits_behind_the_look_aheads_that_decide_turns():
    queue = InferenceQueue(workers=1)
    ran: list[str] = []
    async with worker_held(queue):
        render = asyncio.ensure_future(queue.run(Priority.SPARE, ran.append, "likely reply"))
        look = asyncio.ensure_future(queue.run(Priority.AHEAD, ran.append, "look"))
    await asyncio.gather(render, look)
    assert ran == ["look", "likely reply"]
    queue.close()


async def test_a_look_ahead_whose_turn_ends_is_hurried_before_other_calls_look_aheads():
    queue = InferenceQueue(workers=1)
    ran: list[str] = []
    caller, other = object(), object()
    async with worker_held(queue):
        others = [
            asyncio.ensure_future(queue.run(Priority.AHEAD, ran.append, f"other {n}", owner=other)) for n in range(2)
        ]
        mine = asyncio.ensure_future(queue.run(Priority.AHEAD, ran.append, "mine", owner=caller))
        later = asyncio.ensure_future(queue.run(Priority.NOW, ran.append, "another turn end"))
        await asyncio.sleep(0.05)
        queue.hurry(caller)  # the caller's pause became the turn's end: they wait on this look now
    await asyncio.gather(mine, later, *others)
    assert ran == ["mine", "another turn end", "other 0", "other 1"]  # a turn end in order of arrival
    queue.close()


async def test_a_look_ahead_cancelled_before_it_starts_never_runs():
    queue = InferenceQueue(workers=1)
    gate = threading.Event()
    ran: list[str] = []
    busy = asyncio.ensure_future(queue.run(Priority.NOW, gate.wait))
    await asyncio.sleep(0.05)
    stale = asyncio.ensure_future(queue.run(Priority.AHEAD, ran.append, "stale"))
    await asyncio.sleep(0.01)
    stale.cancel()
    gate.set()
    await busy
    await queue.run(Priority.NOW, ran.append, "fresh")
    assert ran == ["fresh"]
    queue.close()


async def test_an_error_in_the_work_reaches_the_caller_and_the_queue_goes_on():
    queue = InferenceQueue(workers=1)

    def broken():
        raise ValueError("bad audio")

    with pytest.raises(ValueError, match="bad audio"):
        await queue.run(Priority.NOW, broken)
    assert await queue.run(Priority.NOW, lambda: 42) == 42
    queue.close()


def nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice is Linux's")
async def test_model_work_runs_below_the_event_loop_s_cpu_priority():
    queue = InferenceQueue(workers=1)
    try:
        assert await queue.run(Priority.NOW, nice_of_this_thread) == max(INFERENCE_NICE, nice_of_this_thread())
    finally:
        queue.close()


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice is Linux's")
def test_threads_a_model_starts_while_loading_run_at_the_lower_priority_and_the_loading_thread_keeps_its_own():
    before = nice_of_this_thread()
    go_on, pool_nice = threading.Event(), []

    def pool() -> None:  # as CTranslate2 and ONNX Runtime start their pools while a model loads
        go_on.wait()
        pool_nice.append(nice_of_this_thread())

    def load() -> threading.Thread:
        started = threading.Thread(target=pool)
        started.start()
        return started

    started = load_lowered(load)
    go_on.set()
    started.join()
    assert pool_nice == [max(INFERENCE_NICE, before)]
    assert nice_of_this_thread() == before


def test_a_model_that_fails_to_load_raises_as_it_would_have():
    def broken() -> None:
        raise FileNotFoundError("no such voice")

    with pytest.raises(FileNotFoundError, match="no such voice"):
        load_lowered(broken)


async def test_a_labelled_job_reports_its_wait_for_a_worker_apart_from_its_run():
    timings = Timings()
    queue = InferenceQueue(workers=1, timings=timings)
    async with worker_held(queue):
        waiting = asyncio.ensure_future(queue.run(Priority.NOW, time.sleep, 0.2, label="stt"))
    await waiting
    await queue.run(Priority.NOW, lambda: None)  # unlabelled: not reported
    summary = timings.summary()
    assert summary["stt_queued"]["count"] == 1 and summary["stt_queued"]["max_ms"] >= 50  # the held worker
    assert summary["stt_compute"]["count"] == 1 and summary["stt_compute"]["max_ms"] >= 200
    assert {name for name in summary if not name.startswith("stt_")} == set()
    queue.close()


async def test_a_job_run_timed_comes_back_with_its_own_wait_and_run():
    queue = InferenceQueue(workers=1)
    async with worker_held(queue):
        waiting = asyncio.ensure_future(queue.run_timed(Priority.NOW, time.sleep, 0.2))
    result, ran = await waiting
    assert result is None
    assert ran.queued_secs >= 0.05 and 0.2 <= ran.compute_secs < 1.0  # held behind the busy worker, then its sleep
    queue.close()
