"""The outbox's items in an SQLite file under ``data_dir``: the embedded default, one host."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

from voicebot.storage.outbox import CLAIM_SECS, OutboxItem, Status
from voicebot.storage.records import utcnow
from voicebot.storage.sqlite.worker import SQLiteWorker

MIGRATIONS = (
    """
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
    """,
)


class SQLiteOutboxStore:
    def __init__(self, path: Path, claim_secs: float = CLAIM_SECS):
        self._sql = SQLiteWorker(path, MIGRATIONS, name="outbox")
        self.path = self._sql.path
        self.claim_secs = claim_secs
        self._db = self._sql.db

    async def insert(self, kind: str, payload: str) -> int:
        return await self._sql.run(self._insert, kind, payload)

    def _insert(self, kind: str, payload: str) -> int:
        now = utcnow()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO outbox (kind, payload, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (kind, payload, time.time(), now, now),
            )
            return cur.lastrowid or 0

    async def claim(self, busy: tuple[int, ...], limit: int) -> list[OutboxItem]:
        return await self._sql.run(self._claim, busy, limit)

    def _claim(self, busy: tuple[int, ...], limit: int) -> list[OutboxItem]:
        now = time.time()
        with self._db:
            rows = self._db.execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                f" AND id NOT IN ({','.join('?' * len(busy))}) ORDER BY id LIMIT ?",
                (now, *busy, limit),
            ).fetchall()
            claimed = [
                row
                for row in rows
                if self._db.execute(
                    "UPDATE outbox SET next_attempt_at = ?"
                    " WHERE id = ? AND status = 'pending' AND next_attempt_at <= ?",
                    (now + self.claim_secs, row["id"], now),
                ).rowcount
            ]
        return [_item(r) for r in claimed]

    async def listen(self, wake: Callable[[], None]) -> None:
        """Not told: each process wakes for the items it stores, and finds the others' when it next looks."""

    async def seconds_to_next(self, busy: tuple[int, ...]) -> float | None:
        return await self._sql.run(self._seconds_to_next, busy)

    def _seconds_to_next(self, busy: tuple[int, ...]) -> float | None:
        marks = ",".join("?" * len(busy))
        row = self._db.execute(
            f"SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending' AND id NOT IN ({marks})", busy
        ).fetchone()
        return None if row[0] is None else max(0.0, row[0] - time.time())

    async def update(self, item_id: int, status: Status, attempts: int, delay: float, error: str | None) -> None:
        await self._sql.run(self._update, item_id, status, attempts, delay, error)

    def _update(self, item_id: int, status: Status, attempts: int, delay: float, error: str | None) -> None:
        with self._db:
            self._db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?,"
                " last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?",
                (status, attempts, time.time() + delay, error, utcnow(), item_id),
            )

    async def items(self, status: Status | None, limit: int) -> list[OutboxItem]:
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
        return await self._sql.run(self._oldest_pending)

    def _oldest_pending(self) -> str | None:
        return self._db.execute("SELECT MIN(created_at) FROM outbox WHERE status = 'pending'").fetchone()[0]

    async def requeue(self, item_id: int) -> bool:
        return await self._sql.run(self._requeue, item_id)

    def _requeue(self, item_id: int) -> bool:
        with self._db:
            cur = self._db.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND status = 'parked'",
                (time.time(), utcnow(), item_id),
            )
            return cur.rowcount > 0

    async def purge(self, before: str) -> int:
        return await self._sql.run(self._purge, before)

    def _purge(self, before: str) -> int:
        self._db.execute("PRAGMA secure_delete = ON")
        with self._db:
            deleted = self._db.execute("DELETE FROM outbox WHERE status = 'done' AND updated_at < ?", (before,))
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return deleted.rowcount

    async def aclose(self) -> None:
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
