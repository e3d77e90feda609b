"""Graceful shutdown: on SIGTERM, take no new calls, let the calls in progress finish, then hand the rest over.

A deploy or a scale-down must not drop callers mid-sentence. The first SIGTERM
makes the process refuse new calls (they go to an agent through the platform,
as at capacity) and wait up to ``limits.drain_secs`` for its calls to end; the
calls still going then hear an apology and are transferred, and the server
shuts down as uvicorn would have. A second SIGTERM, or SIGINT, stops at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from voicebot.server.runtime import Runtime

log = logging.getLogger(__name__)

HAND_OVER_SECS = 20.0  # for the apology to play and the platform to take the call


class Drain:
    def __init__(self, runtime: Runtime, drain_secs: float, then: Callable[[], None]):
        self._runtime = runtime
        self._drain_secs = drain_secs
        self._then = then
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self._task is not None:
            log.warning("second SIGTERM: stopping now")
            self._then()
            return
        self._runtime.calls.draining = True
        log.warning(
            "SIGTERM: taking no new calls; %d in progress get up to %.0f s to finish",
            self._runtime.calls.in_progress,
            self._drain_secs,
        )
        self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        runtime = self._runtime
        await _until_no_calls(runtime, self._drain_secs)
        if runtime.calls.in_progress:
            log.warning("drain time over: handing %d calls to agents", runtime.calls.in_progress)
            await runtime.calls.hand_over_all("server_shutdown")
            await _until_no_calls(runtime, HAND_OVER_SECS)
        self._then()


async def _until_no_calls(runtime: Runtime, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while runtime.calls.in_progress and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


def install_drain(runtime: Runtime, drain_secs: float) -> Callable[[], None]:
    """Take SIGTERM over from the server (main thread only); returns what gives it back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: Any = signal.getsignal(signal.SIGTERM)

    def exit_as_before() -> None:
        loop.remove_signal_handler(signal.SIGTERM)
        if callable(previous):
            previous(signal.SIGTERM, None)  # uvicorn's own handler: its usual graceful exit
        else:
            signal.signal(signal.SIGTERM, previous)
            signal.raise_signal(signal.SIGTERM)

    def give_back() -> None:
        loop.remove_signal_handler(signal.SIGTERM)

    loop.add_signal_handler(signal.SIGTERM, Drain(runtime, drain_secs, exit_as_before).start)
    return give_back
