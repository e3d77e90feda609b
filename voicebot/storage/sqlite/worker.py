"""One SQLite connection driven from one worker thread.

Blocking SQLite calls stay off the event loop, and writes happen in the order
they were asked for. A call is shielded: a coroutine cancelled mid-write (a
caller hanging up, a barge-in) does not cancel the write it already handed over.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from voicebot.config import ConfigError


class SQLiteWorker:
    def __init__(
        self,
        path: Path,
        migrations: Sequence[str],
        *,
        name: str,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(f"PRAGMA synchronous = {synchronous}")
        migrate(self.db, migrations)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        return await asyncio.shield(future)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.db.close()


def migrate(db: sqlite3.Connection, migrations: Sequence[str]) -> int:
    """Bring the file to the newest schema: migration N (from 1) runs once, when ``user_version`` is below N.

    Each runs in one transaction with its version bump, under SQLite's write lock, so
    processes opening one file at once apply it once. A file from before versioning
    is at version 0, and migration 1 is written to accept it (``IF NOT EXISTS``).
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(migrations):
            known = len(migrations)
            raise ConfigError(f"{db_file(db)} is at schema version {version}, newer than this voicebot knows ({known})")
        for number, script in enumerate(migrations[version:], start=version + 1):
            for statement in _statements(script):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return len(migrations)


def db_file(db: sqlite3.Connection) -> str:
    return next((row[2] for row in db.execute("PRAGMA database_list") if row[1] == "main"), "the database")


def _statements(script: str) -> list[str]:
    """A script's statements; ``executescript`` would commit first and break the migration's transaction."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s] + ([current.strip()] if current.strip() else [])
