"""Live call events for the agent desktop: what is happening on every call, as it happens.

Sessions publish; each desktop connection subscribes with its own bounded queue.
A desktop that stops reading is dropped rather than allowed to hold memory or
slow the calls down; it reconnects and gets a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)


class CallEvents:
    def __init__(self, keep_ended: int = 20, queue_size: int = 1000):
        self._calls: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._subscribers: set[asyncio.Queue] = set()
        self._keep_ended = keep_ended
        self._queue_size = queue_size

    def snapshot(self) -> list[dict[str, Any]]:
        """Calls in progress and the most recently ended, newest first."""
        return list(reversed(self._calls.values()))

    def publish(self, kind: str, call_id: str, **data: Any) -> None:
        call = self._calls.setdefault(call_id, {"call_id": call_id, "transcript": [], "state": "ringing"})
        if kind == "turn":
            call["transcript"].append(data)
        else:
            call.update(data)
        self._forget_old()
        event = {"kind": kind, "call_id": call_id, **data}
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("an agent desktop connection stopped reading; dropping it")
                self._subscribers.discard(queue)

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
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
