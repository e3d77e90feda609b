"""A store's connections to PostgreSQL: the schema made current at construction, a pool opened in the event loop.

The constructor connects once, synchronously, to apply migrations: a wrong URL,
password or an unreachable server stops start-up with one clear line instead of
failing the first call. Writes are shielded like the SQLite worker's: a call's
task cancelled mid-write (a hang-up, a barge-in) still completes the write.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar, cast
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from voicebot.config import ConfigError
from voicebot.storage.postgres.migrations import migrate

T = TypeVar("T")


class StoreUnreachable(ConfigError):
    """PostgreSQL could not be reached or refused us at start-up (the message names where, never the password)."""


def where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


_current: set[str] = set()  # databases this process has brought up to date: once each, not once per store


def prepare(url: str) -> str:
    """Bring the database's schema up to date, or stop with one line; returns where it is, fit to print."""
    if url in _current:
        return where(url)
    try:
        migrate(url)
        _current.add(url)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise StoreUnreachable(f"store.url: cannot use PostgreSQL at {where(url)}: {reason}") from None
    return where(url)


async def _configure(conn: psycopg.AsyncConnection) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()


class Database:
    def __init__(self, url: str, *, max_connections: int, name: str):
        self.where = prepare(url)
        self._pool: AsyncConnectionPool = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            name=name,
            kwargs={"row_factory": dict_row, "autocommit": False},
            configure=_configure,
            timeout=10.0,
        )
        self._opened: asyncio.Lock | None = None
        self._open = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[DictRow]]:
        """A connection in one transaction: committed when the block ends, rolled back if it raises."""
        if not self._open:
            await self._ensure_open()
        async with self._pool.connection() as conn, conn.transaction():
            yield cast("psycopg.AsyncConnection[DictRow]", conn)  # rows are dicts: the pool's row_factory

    async def _ensure_open(self) -> None:
        self._opened = self._opened or asyncio.Lock()
        async with self._opened:
            if not self._open:
                await self._pool.open(wait=True, timeout=10.0)
                self._open = True

    async def shielded(self, work: Awaitable[T]) -> T:
        return await asyncio.shield(asyncio.ensure_future(work))

    async def aclose(self) -> None:
        if self._open:
            await self._pool.close()
            self._open = False


def iso(value: datetime) -> str:
    """A timestamp as the SQLite store keeps it: ISO 8601 in UTC (the pool's session zone), to the millisecond."""
    return value.isoformat(timespec="milliseconds")
