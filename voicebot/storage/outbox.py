"""A durable outbox: post-call CRM writes and screen-pop webhooks that are never lost.

An item is written to SQLite before its first attempt and marked done only when
its handler succeeds. Failures are retried with exponential backoff, across
restarts; an item that cannot succeed (a permanent error, or too many attempts)
is parked with its last error for a person to look at, never dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from voicebot.storage.records import utcnow
from voicebot.storage.sqlite_worker import SQLiteWorker

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
Status = Literal["pending", "done", "parked"]

# An attempt in progress holds its item this long; if its process dies, another (or the next run) retries it.
CLAIM_SECS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(status, next_attempt_at);
"""


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (the item is parked at once)."""


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PermanentError) or getattr(exc, "retryable", True) is False


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    kind: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: str
    updated_at: str


class Outbox:
    def __init__(
        self,
        path: Path,
        handlers: dict[str, Handler],
        *,
        max_attempts: int = 12,
        backoff_base_secs: float = 1.0,
        backoff_max_secs: float = 300.0,
        kinds: tuple[str, ...] = (),
    ):
        """``kinds`` lets an outbox without ``handlers`` store items for another process to deliver."""
        self._sql = SQLiteWorker(path, _SCHEMA, name="outbox")
        self.path = self._sql.path
        self._db = self._sql.db
        self.handlers = handlers
        self.kinds = frozenset(kinds or handlers)
        self.max_attempts = max_attempts
        self.backoff_base_secs = backoff_base_secs
        self.backoff_max_secs = backoff_max_secs
        self._wake = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._busy: set[int] = set()  # ids being attempted right now

    # -- producing -------------------------------------------------------------

    async def enqueue(self, kind: str, payload: dict[str, Any]) -> int:
        """Store the item (durably, before any attempt) and wake the worker."""
        if kind not in self.kinds:
            raise ValueError(f"no outbox handler for {kind!r}")
        item_id = await self._sql.run(self._insert, kind, json.dumps(payload, default=str))
        self._wake.set()
        return item_id

    def _insert(self, kind: str, payload: str) -> int:
        now = utcnow()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO outbox (kind, payload, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (kind, payload, time.time(), now, now),
            )
            return cur.lastrowid or 0

    # -- delivering ------------------------------------------------------------

    def start(self) -> None:
        """Deliver what is due now, including items left pending by an earlier run."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="outbox")

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            busy = tuple(self._busy)
            for item in await self._sql.run(self._due, busy):
                self._busy.add(item.id)
                task = asyncio.create_task(self._attempt(item))
                self._in_flight.add(task)
                task.add_done_callback(self._finished(item.id))
            wait = await self._sql.run(self._seconds_to_next, tuple(self._busy))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    def _finished(self, item_id: int) -> Callable[[asyncio.Task], None]:
        def done(task: asyncio.Task) -> None:
            self._in_flight.discard(task)
            self._busy.discard(item_id)
            self._wake.set()

        return done

    def _due(self, busy: tuple[int, ...]) -> list[OutboxItem]:
        """Due items, each claimed for :data:`CLAIM_SECS` so no other server process attempts it too."""
        now = time.time()
        with self._db:
            rows = self._db.execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                f" AND id NOT IN ({','.join('?' * len(busy))}) ORDER BY id LIMIT 50",
                (now, *busy),
            ).fetchall()
            claimed = [
                row
                for row in rows
                if self._db.execute(
                    "UPDATE outbox SET next_attempt_at = ?"
                    " WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?",
                    (now + CLAIM_SECS, row["id"], now),
                ).rowcount
            ]
        return [_item(r) for r in claimed]

    def _seconds_to_next(self, busy: tuple[int, ...]) -> float:
        marks = ",".join("?" * len(busy))
        row = self._db.execute(
            f"SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' AND id NOT IN ({marks})", busy
        ).fetchone()
        return 60.0 if row[0] is None else max(0.0, min(60.0, row[0] - time.time()))

    async def _attempt(self, item: OutboxItem) -> None:
        try:
            await self.handlers[item.kind](item.payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            if getattr(exc, "counts_as_attempt", True) is False:
                # Not sent at all (e.g. an open circuit): wait as told, without using up an attempt.
                wait = max(getattr(exc, "retry_in", 0.0), self.backoff_base_secs)
                await self._sql.run(self._update, item.id, "pending", item.attempts, time.time() + wait, error)
                return
            attempts = item.attempts + 1
            if is_permanent(exc) or attempts >= self.max_attempts:
                log.error("outbox item %d (%s) parked after %d attempts: %s", item.id, item.kind, attempts, error)
                await self._sql.run(self._update, item.id, "parked", attempts, time.time(), error)
            else:
                delay = self._backoff(attempts)
                log.warning(
                    "outbox item %d (%s) attempt %d failed, retry in %.1fs: %s",
                    item.id,
                    item.kind,
                    attempts,
                    delay,
                    error,
                )
                await self._sql.run(self._update, item.id, "pending", attempts, time.time() + delay, error)
            return
        await self._sql.run(self._update, item.id, "done", item.attempts + 1, time.time(), None)

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.backoff_max_secs, self.backoff_base_secs * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)

    def _update(self, item_id: int, status: Status, attempts: int, next_at: float, error: str | None) -> None:
        with self._db:
            self._db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?,"
                " last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?",
                (status, attempts, next_at, error, utcnow(), item_id),
            )

    # -- inspecting ------------------------------------------------------------

    async def items(self, status: Status | None = None, limit: int = 200) -> list[OutboxItem]:
        return await self._sql.run(self._items, status, limit)

    def _items(self, status: Status | None, limit: int) -> list[OutboxItem]:
        sql, args = "SELECT * FROM outbox", []
        if status:
            sql, args = sql + " WHERE status = ?", [status]
        rows = self._db.execute(sql + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [_item(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        return await self._sql.run(self._counts)

    def _counts(self) -> dict[str, int]:
        rows = self._db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
        return {"pending": 0, "done": 0, "parked": 0} | {r[0]: r[1] for r in rows}

    async def oldest_pending(self) -> str | None:
        """When the oldest undelivered item was queued (ISO time), or None: how far behind the CRM writes are."""
        return await self._sql.run(self._oldest_pending)

    def _oldest_pending(self) -> str | None:
        return self._db.execute("SELECT MIN(created_at) FROM outbox WHERE status = 'pending'").fetchone()[0]

    async def retry_parked(self, item_id: int) -> bool:
        """Put a parked item back in line (after someone fixed the cause)."""
        changed = await self._sql.run(self._requeue, item_id)
        self._wake.set()
        return changed

    def _requeue(self, item_id: int) -> bool:
        with self._db:
            cur = self._db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'parked'",
                (time.time(), utcnow(), item_id),
            )
            return cur.rowcount > 0

    async def purge(self, before: str) -> int:
        """Delete delivered items last updated before ``before`` (ISO time); pending and parked ones stay."""
        return await self._sql.run(self._purge, before)

    def _purge(self, before: str) -> int:
        self._db.execute("PRAGMA secure_delete = ON")
        with self._db:
            deleted = self._db.execute("DELETE FROM outbox WHERE status = 'done' AND updated_at < ?", (before,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted.rowcount

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for attempts under way, e.g. at shutdown."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout)

    async def aclose(self) -> None:
        await self.drain()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._sql.close()


def _item(row: sqlite3.Row) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
