"""Each store's specification runs against both back ends: SQLite files, and a real PostgreSQL server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from voicebot.storage.outbox import CLAIM_SECS, OutboxStore
from voicebot.storage.records import CallStore


@dataclass
class Backend:
    """Where one test's stores live; every store opened here shares it, as the processes of one deployment do."""

    name: str
    directory: Path
    url: str | None

    def call_store(self, node: str = "node-a") -> CallStore:
        if self.url is None:
            from voicebot.storage.sqlite.records import SQLiteCallStore

            return SQLiteCallStore(self.directory / "calls.sqlite3", node)
        from voicebot.storage.postgres.records import PostgresCallStore

        return PostgresCallStore(self.url, node)

    def outbox_store(self, node: str = "node-a", claim_secs: float = CLAIM_SECS) -> OutboxStore:
        if self.url is None:
            from voicebot.storage.sqlite.outbox import SQLiteOutboxStore

            return SQLiteOutboxStore(self.directory / "outbox.sqlite3", claim_secs)
        from voicebot.storage.postgres.outbox import PostgresOutboxStore

        return PostgresOutboxStore(self.url, node, claim_secs)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path, None)
    return Backend("postgres", tmp_path, request.getfixturevalue("postgres_server").new_database())
