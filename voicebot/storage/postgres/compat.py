"""PostgreSQL behind the part of sqlite3's connection surface the embedded CRM uses.

The embedded CRM's SQL is written once, in the dialect the two share (``?``
placeholders become ``%s``; upserts are ``ON CONFLICT``), so its tables live in
the SQLite file of one host or in the PostgreSQL of several nodes without a
second copy of every query. Connections come from a small pool: SCRAM
authentication costs more than the look-up it would precede.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from voicebot.storage.postgres.pool import prepare


class Row(dict):
    """A row by column name, as a dict, or by position, like ``sqlite3.Row``."""

    def __init__(self, names: Sequence[str], values: Sequence[Any]):
        super().__init__(zip(names, values, strict=True))
        self._values = tuple(values)

    def __getitem__(self, key: Any) -> Any:
        return self._values[key] if isinstance(key, int) else super().__getitem__(key)


def _rows(cursor: Any) -> Any:
    names = [column.name for column in cursor.description or ()]
    return lambda values: Row(names, values)


class SharedConnection:
    """One pooled connection: ``with`` it for a transaction (as with sqlite3), ``close`` it to give it back."""

    def __init__(self, pool: ConnectionPool):
        self._pool = pool
        self._conn: psycopg.Connection = pool.getconn()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor:
        return self._conn.cursor(row_factory=_rows).execute(sql.replace("?", "%s"), args)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(sql.replace("?", "%s"), rows)

    def __enter__(self) -> SharedConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self._conn.commit()
        else:
            self._conn.rollback()

    def close(self) -> None:
        self._conn.rollback()  # a read leaves its transaction open; nothing uncommitted goes back to the pool
        self._pool.putconn(self._conn)


class SharedDatabase:
    def __init__(self, url: str, max_connections: int = 4):
        self.where = prepare(url)
        self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=True, name="crm", timeout=10.0)

    def connect(self) -> SharedConnection:
        return SharedConnection(self._pool)

    def close(self) -> None:
        self._pool.close()
