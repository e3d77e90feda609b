"""Live call events for the agent desktop: what is happening on every call, as it happens.

Sessions publish; each desktop connection subscribes with its own bounded queue.
A desktop that stops reading is dropped rather than allowed to hold memory or
slow the calls down; it reconnects and gets a fresh snapshot. With several
server processes (``voicebot serve --workers N``) an :class:`EventLog` carries
each process's events to the others, so any desktop sees every call; with
several nodes, a Redis stream does (``events.url``, :mod:`voicebot.storage.redis.events`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any, Protocol

from voicebot.storage.sqlite_worker import SQLiteWorker

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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS call_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL
);
"""


class EventLog:
    """Call events shared by a server's processes through one SQLite table.

    A call runs in one process while an agent's desktop may be connected to
    another: each process appends what its calls publish and replays what the
    others appended, about :data:`POLL_SECS` later. Rows older than
    :data:`KEEP_SECS` are pruned.
    """

    POLL_SECS = 0.1
    KEEP_SECS = 3600.0

    def __init__(self, path: Path, events: CallEvents):
        self._sql = _open(path)
        self._db = self._sql.db
        self._origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._events = events
        self._writes: set[asyncio.Future] = set()
        self._last = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM call_events").fetchone()[0]
        events.forward = self._append

    @staticmethod
    def prepare(path: Path) -> None:
        """Create the log before the workers start: processes opening a new SQLite file at once race for the
        lock that switches it to WAL, and the loser fails to start ("database is locked")."""
        _open(path).close()

    def _append(self, event: dict[str, Any]) -> None:
        write = asyncio.ensure_future(self._sql.run(self._insert, json.dumps(event, default=str)))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)

    def _insert(self, event: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT INTO call_events (origin, at, event) VALUES (?, ?, ?)", (self._origin, time.time(), event)
            )

    def _since(self, last: int) -> list[tuple[int, str]]:
        return self._db.execute(
            "SELECT id, event FROM call_events WHERE id > ? AND origin != ? ORDER BY id", (last, self._origin)
        ).fetchall()

    def _prune(self) -> None:
        with self._db:
            self._db.execute("DELETE FROM call_events WHERE at < ?", (time.time() - self.KEEP_SECS,))

    async def follow(self) -> None:
        """Replay the other processes' events as they come, until cancelled."""
        await self._sql.run(self._prune)
        while True:
            for row_id, event in await self._sql.run(self._since, self._last):
                self._last = max(self._last, row_id)
                self._events.replay(json.loads(event))
            await asyncio.sleep(self.POLL_SECS)

    async def aclose(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        self._sql.close()


def _open(path: Path) -> SQLiteWorker:
    return SQLiteWorker(path, _SCHEMA, name="events", synchronous="NORMAL")
