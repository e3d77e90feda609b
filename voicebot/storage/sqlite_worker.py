"""One SQLite connection driven from one worker thread.

Blocking SQLite calls stay off the event loop, and writes happen in the order
they were asked for. A call is shielded: a coroutine cancelled mid-write (a
caller hanging up, a barge-in) does not cancel the write it already handed over.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal


class SQLiteWorker:
    def __init__(self, path: Path, schema: str, *, name: str, synchronous: Literal["FULL", "NORMAL"] = "FULL"):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute(f"PRAGMA synchronous = {synchronous}")
        self.db.executescript(schema)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        future = asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        return await asyncio.shield(future)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.db.close()
