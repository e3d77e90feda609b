"""One queue for the process's blocking model work (Whisper, Smart Turn), turn ends first.

With many calls on two cores, transcriptions started with ``asyncio.to_thread``
run side by side and slow each other down, and a look-ahead for one caller can
delay the turn another caller has just finished. Here the work waits in a
priority queue in front of a fixed number of worker threads: a turn that has
ended goes before a look-ahead, a look-ahead before rendering replies that may
never be given, and a look-ahead the caller has made stale (they went on
talking) is dropped before it starts. A look-ahead whose turn then ends is
hurried to the front (:meth:`InferenceQueue.hurry`): the caller now waits on it.

The model work also runs below the event loop's CPU priority
(:data:`INFERENCE_NICE`): on two cores at 24 calls, Whisper's and Piper's
threads took the cores from the loop for up to a second, and the bot's audio
went out late mid-word (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from voicebot.server.metrics import Timings

T = TypeVar("T")

INFERENCE_NICE = 5  # the nice of model threads; the loop stays at the process's own (measured: docs/benchmarks.md)


class Priority(IntEnum):
    NOW = 0  # a caller is waiting for this answer
    AHEAD = 1  # a guess made during a pause; stale if the caller goes on
    SPARE = 2  # speech rendered ahead for a reply that may never be given


@dataclass(frozen=True, slots=True)
class Ran:
    """One job's time: waiting for a worker, then running on it."""

    queued_secs: float
    compute_secs: float


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    run: Callable[[], Any] = field(compare=False)
    future: asyncio.Future = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    owner: object = field(compare=False, default=None)
    label: str | None = field(compare=False, default=None)
    queued_at: float = field(compare=False, default=0.0)


class InferenceQueue:
    """Runs blocking callables on ``workers`` threads, most urgent first, FIFO within a priority.

    With ``timings``, a job run with a ``label`` reports how long it waited for a
    worker (``<label>_queued``) and how long it ran (``<label>_compute``): at load,
    which of the two a slow transcript is.
    """

    def __init__(self, workers: int = 1, timings: Timings | None = None):
        self._timings = timings
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"inference-{n}", daemon=True) for n in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    async def run(
        self, priority: Priority, fn: Callable[..., T], *args: Any, owner: object = None, label: str | None = None
    ) -> T:
        """``fn(*args)`` on a worker; cancelling the await drops the job if it has not started."""
        result, _ = await self.run_timed(priority, fn, *args, owner=owner, label=label)
        return result

    async def run_timed(
        self, priority: Priority, fn: Callable[..., T], *args: Any, owner: object = None, label: str | None = None
    ) -> tuple[T, Ran]:
        """As :meth:`run`, with how long this job waited and ran: for one turn's account of its time."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[T, Ran]] = loop.create_future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the inference queue is closed")
            job = _Job(
                int(priority), next(self._seq), lambda: fn(*args), future, loop, owner, label, time.perf_counter()
            )
            heapq.heappush(self._heap, job)
            self._ready.notify()
        return await future

    def hurry(self, owner: object) -> None:
        """What ``owner`` has waiting goes before everything not yet urgent: its caller now waits on it."""
        with self._ready:
            hurried = False
            for job in self._heap:
                if job.owner is owner and job.priority > Priority.NOW:
                    job.priority, hurried = int(Priority.NOW), True
            if hurried:
                heapq.heapify(self._heap)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify_all()

    def _work(self) -> None:
        lower_this_thread()
        while True:
            with self._ready:
                while not self._heap and not self._closed:
                    self._ready.wait()
                if self._closed and not self._heap:
                    return
                job = heapq.heappop(self._heap)
            if job.future.cancelled():
                continue
            result, error = None, None
            started = time.perf_counter()
            try:
                result = job.run()
            except BaseException as exc:  # handed to the awaiting coroutine, which raises it
                error = exc
            ran = Ran(started - job.queued_at, time.perf_counter() - started)
            if self._timings is not None and job.label is not None:
                self._timings.observe(f"{job.label}_queued", ran.queued_secs)
                self._timings.observe(f"{job.label}_compute", ran.compute_secs)
            try:
                job.loop.call_soon_threadsafe(_settle, job.future, (result, ran), error)
            except RuntimeError:
                pass  # the loop that asked has closed: nobody is waiting


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def lower_this_thread() -> None:
    """Run the calling thread, and the threads it starts from now on, at :data:`INFERENCE_NICE` (or lower still).

    Only on Linux, where a thread's nice is its own: elsewhere the same call would lower the whole process.
    """
    if sys.platform == "linux":
        _lower(threading.get_native_id())


def load_lowered(load: Callable[[], T]) -> T:
    """``load()``, then the threads it started (a model's compute pool) lowered to :data:`INFERENCE_NICE`.

    CTranslate2 and ONNX Runtime start their pools when a model loads. Loading on a
    thread of its own instead made Whisper half as fast again (measured), so the
    model loads here and its new threads are lowered after.
    """
    if sys.platform != "linux":
        return load()
    before = set(os.listdir("/proc/self/task"))
    model = load()
    for thread in set(os.listdir("/proc/self/task")) - before:
        with contextlib.suppress(ProcessLookupError):  # a helper thread that has finished already
            _lower(int(thread))
    return model


def _lower(thread: int) -> None:
    os.setpriority(os.PRIO_PROCESS, thread, max(INFERENCE_NICE, os.getpriority(os.PRIO_PROCESS, thread)))
