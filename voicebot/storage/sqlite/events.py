"""Call events shared by one host's server processes (``voicebot serve --workers N``) through an SQLite table."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from voicebot.storage.events import CallEvents
from voicebot.storage.sqlite.worker import SQLiteWorker

MIGRATIONS = (
    """
CREATE TABLE IF NOT EXISTS call_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    origin TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL
);
""",
)


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
    return SQLiteWorker(path, MIGRATIONS, name="events", synchronous="NORMAL")
