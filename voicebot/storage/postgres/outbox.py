"""The outbox's items in PostgreSQL, delivered by whichever node claims them first.

A claim takes due rows with ``FOR UPDATE SKIP LOCKED``, so nodes claiming at
once split the work instead of queueing behind each other's locks, and pushes
their next attempt a lease ahead, naming the claiming node (``claimed_by``, kept as
the node that last attempted it): if that node dies
mid-attempt, the item falls due again when the lease runs out and any node
takes it over. Every node ``LISTEN``s for new items (a trigger notifies on
each insert), so an item stored anywhere is attempted at once, not at the next
look. Due times are the database server's clock, so nodes whose clocks
disagree still agree on what is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg

from voicebot.storage.outbox import CLAIM_SECS, OutboxItem, Status
from voicebot.storage.postgres.pool import Database, iso

log = logging.getLogger(__name__)

LISTEN_RETRY_SECS = 5.0

_CLAIM = """
UPDATE outbox SET next_attempt_at = now() + make_interval(secs => %(lease)s), claimed_by = %(node)s
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND next_attempt_at <= now() AND NOT (id = ANY(%(busy)s))
    ORDER BY id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING *
"""


class PostgresOutboxStore:
    def __init__(self, url: str, node: str, claim_secs: float = CLAIM_SECS, max_connections: int = 2):
        self._db = Database(url, max_connections=max_connections, name="outbox")
        self._url = url
        self.node = node
        self.claim_secs = claim_secs

    async def _one(self, sql: str, args: dict[str, Any] | tuple) -> dict[str, Any] | None:
        async def run() -> dict[str, Any] | None:
            async with self._db.transaction() as conn:
                cur = await conn.execute(sql, args)
                return await cur.fetchone() if cur.description else {"rowcount": cur.rowcount}

        return await self._db.shielded(run())

    async def _all(self, sql: str, args: dict[str, Any] | tuple) -> list[dict[str, Any]]:
        async def run() -> list[dict[str, Any]]:
            async with self._db.transaction() as conn:
                cur = await conn.execute(sql, args)
                return await cur.fetchall()

        return await self._db.shielded(run())

    async def insert(self, kind: str, payload: str) -> int:
        row = await self._one("INSERT INTO outbox (kind, payload) VALUES (%s, %s::jsonb) RETURNING id", (kind, payload))
        assert row is not None
        return row["id"]

    async def claim(self, busy: tuple[int, ...], limit: int) -> list[OutboxItem]:
        rows = await self._all(
            _CLAIM, {"lease": self.claim_secs, "node": self.node, "busy": list(busy), "limit": limit}
        )
        return sorted((_item(r) for r in rows), key=lambda item: item.id)

    async def listen(self, wake: Callable[[], None]) -> None:
        """``LISTEN`` on a connection of its own (a pooled one would be handed to others); reconnects if it drops."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute("LISTEN voicebot_outbox")
                    wake()  # what was stored while not listening
                    async for _ in conn.notifies():
                        wake()
            except psycopg.Error as exc:
                log.warning("outbox: not listening to %s (%s); polling until back", self._db.where, exc)
                await asyncio.sleep(LISTEN_RETRY_SECS)

    async def seconds_to_next(self, busy: tuple[int, ...]) -> float | None:
        row = await self._one(
            "SELECT EXTRACT(EPOCH FROM MIN(next_attempt_at) - now())::float AS due_in FROM outbox"
            " WHERE status = 'pending' AND NOT (id = ANY(%s))",
            (list(busy),),
        )
        due_in = row["due_in"] if row else None
        return None if due_in is None else max(0.0, due_in)

    async def update(self, item_id: int, status: Status, attempts: int, delay: float, error: str | None) -> None:
        await self._one(
            "UPDATE outbox SET status = %s, attempts = %s, next_attempt_at = now() + make_interval(secs => %s),"
            " last_error = COALESCE(%s, last_error), updated_at = now() WHERE id = %s",
            (status, attempts, delay, error, item_id),
        )

    async def items(self, status: Status | None, limit: int) -> list[OutboxItem]:
        if status is None:
            rows = await self._all("SELECT * FROM outbox ORDER BY id DESC LIMIT %s", (limit,))
        else:
            rows = await self._all("SELECT * FROM outbox WHERE status = %s ORDER BY id DESC LIMIT %s", (status, limit))
        return [_item(r) for r in rows]

    async def counts(self) -> dict[str, int]:
        rows = await self._all("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status", ())
        return {"pending": 0, "done": 0, "parked": 0} | {r["status"]: r["n"] for r in rows}

    async def oldest_pending(self) -> str | None:
        row = await self._one("SELECT MIN(created_at) AS oldest FROM outbox WHERE status = 'pending'", ())
        oldest = row["oldest"] if row else None
        return None if oldest is None else iso(oldest)

    async def requeue(self, item_id: int) -> bool:
        row = await self._one(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = now(), updated_at = now()"
            " WHERE id = %s AND status = 'parked'",
            (item_id,),
        )
        return bool(row and row["rowcount"])

    async def purge(self, before: str) -> int:
        row = await self._one("DELETE FROM outbox WHERE status = 'done' AND updated_at < %s", (before,))
        return row["rowcount"] if row else 0

    async def aclose(self) -> None:
        await self._db.aclose()


def _item(row: dict[str, Any]) -> OutboxItem:
    return OutboxItem(
        id=row["id"],
        kind=row["kind"],
        payload=row["payload"],
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"].timestamp(),
        last_error=row["last_error"],
        created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]),
    )
