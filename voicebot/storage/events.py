"""Live call events for the agent desktop: what is happening on every call, as it happens.

Sessions publish; each desktop connection subscribes with its own bounded queue.
A desktop that stops reading is dropped rather than allowed to hold memory or
slow the calls down; it reconnects and gets a fresh snapshot. With several
server processes (``voicebot serve --workers N``) an SQLite log carries
each process's events to the others, so any desktop sees every call; with
several nodes, a Redis stream does (``events.url``, :mod:`voicebot.storage.redis.events`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)


class CallEvents:
    def __init__(self, keep_ended: int = 20, queue_size: int = 1000):
        self._calls: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._subscribers: set[asyncio.Queue] = set()
        self._keep_ended = keep_ended
        self._queue_size = queue_size
        self.forward: Callable[[dict[str, Any]], None] | None = None  # to the other server processes

    def snapshot(self) -> list[dict[str, Any]]:
        """Calls in progress and the most recently ended, newest first."""
        return list(reversed(self._calls.values()))

    def publish(self, kind: str, call_id: str, **data: Any) -> None:
        event = {"kind": kind, "call_id": call_id, **data}
        self.replay(event)
        if self.forward is not None:
            self.forward(event)

    def replay(self, event: dict[str, Any]) -> None:
        """Apply an event published here or by another server process, and pass it to every desktop."""
        data = {k: v for k, v in event.items() if k not in ("kind", "call_id")}
        call = self._calls.setdefault(
            event["call_id"], {"call_id": event["call_id"], "transcript": [], "state": "ringing"}
        )
        if event["kind"] == "turn":
            call["transcript"].append(data)
        else:
            call.update(data)
        self._forget_old()
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("an agent desktop connection stopped reading; dropping it")
                self._subscribers.discard(queue)

    async def subscribe(self) -> AsyncGenerator[dict[str, Any]]:
        """Events from now on; ends when this subscriber fell too far behind."""
        queue: asyncio.Queue = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            while queue in self._subscribers or not queue.empty():
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    def _forget_old(self) -> None:
        ended = [cid for cid, call in self._calls.items() if call.get("state") == "ended"]
        for call_id in ended[: max(0, len(ended) - self._keep_ended)]:
            del self._calls[call_id]


class SharedEvents(Protocol):
    """Carries :class:`CallEvents` between processes: set as the events' ``forward``, replaying the others'."""

    async def follow(self) -> None: ...

    async def aclose(self) -> None: ...
