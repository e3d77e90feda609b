"""Call records in an SQLite file under ``data_dir``: the embedded default, one host.

Writes go through one worker thread, so SQLite stays off the event loop and
writes land in order.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from voicebot.storage.records import (
    CallEvent,
    CallRecord,
    Outcome,
    TransferRecord,
    Turn,
    add_event_view,
    check_turn_changes,
    utcnow,
)
from voicebot.storage.sqlite.worker import SQLiteWorker

MIGRATIONS = (
    # 1: the schema before versioning (files from then are at version 0 and already have it).
    """
    CREATE TABLE IF NOT EXISTS calls (
        id TEXT PRIMARY KEY,
        platform TEXT NOT NULL,
        stream_id TEXT,
        ani_raw TEXT,
        ani_e164 TEXT,
        dialed TEXT,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        customer TEXT,
        "case" TEXT,
        crm TEXT,
        outcome TEXT,
        outcome_reason TEXT,
        transfer TEXT
    );
    CREATE INDEX IF NOT EXISTS calls_started ON calls(started_at);
    CREATE TABLE IF NOT EXISTS turns (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL REFERENCES calls(id),
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        started_at TEXT NOT NULL,
        ended_at TEXT,
        latency_ms REAL,
        interrupted INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX IF NOT EXISTS turns_call ON turns(call_id, id);
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id TEXT NOT NULL REFERENCES calls(id),
        kind TEXT NOT NULL,
        at TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS events_call ON events(call_id, id);
    """,
    # 2: which server process held each call.
    "ALTER TABLE calls ADD COLUMN node TEXT;",
)


class SQLiteCallStore:
    def __init__(self, path: Path, node: str | None = None):
        self._sql = SQLiteWorker(path, MIGRATIONS, name="call-store", synchronous="NORMAL")
        self.path = self._sql.path
        self.node = node
        self._db = self._sql.db

    def _write(self, sql: str, args: tuple) -> int:
        with self._db:
            return self._db.execute(sql, args).lastrowid or 0

    async def start_call(
        self,
        call_id: str,
        platform: str,
        stream_id: str | None,
        ani_raw: str | None,
        ani_e164: str | None,
        dialed: str | None,
    ) -> None:
        await self._sql.run(
            self._write,
            "INSERT INTO calls (id, platform, stream_id, ani_raw, ani_e164, dialed, started_at, node)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (call_id, platform, stream_id, ani_raw, ani_e164, dialed, utcnow(), self.node),
        )

    async def set_caller(self, call_id: str, customer: dict | None, case: dict | None, crm: dict) -> None:
        await self._sql.run(
            self._write,
            'UPDATE calls SET customer = ?, "case" = ?, crm = ? WHERE id = ?',
            (_dump(customer), _dump(case), _dump(crm), call_id),
        )

    async def add_turn(self, call_id: str, turn: Turn) -> int:
        return await self._sql.run(
            self._write,
            "INSERT INTO turns (call_id, role, text, started_at, ended_at, latency_ms, interrupted)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (call_id, turn.role, turn.text, turn.started_at, turn.ended_at, turn.latency_ms, int(turn.interrupted)),
        )

    async def update_turn(self, turn_id: int, **changes: Any) -> None:
        check_turn_changes(changes)
        assignments = ", ".join(f"{k} = ?" for k in changes)
        values = tuple(int(v) if isinstance(v, bool) else v for v in changes.values())
        await self._sql.run(self._write, f"UPDATE turns SET {assignments} WHERE id = ?", (*values, turn_id))

    async def add_event(self, call_id: str, kind: str, data: dict[str, Any]) -> int:
        return await self._sql.run(
            self._write,
            "INSERT INTO events (call_id, kind, at, data) VALUES (?, ?, ?, ?)",
            (call_id, kind, utcnow(), json.dumps(data, default=str)),
        )

    async def relabel_events(self, event_ids: list[int], kind: str) -> None:
        for event_id in event_ids:
            await self._sql.run(self._write, "UPDATE events SET kind = ? WHERE id = ?", (kind, event_id))

    async def finish(self, call_id: str, outcome: Outcome, reason: str, transfer: TransferRecord | None = None) -> bool:
        return await self._sql.run(self._finish, call_id, outcome, reason, transfer)

    def _finish(self, call_id: str, outcome: str, reason: str, transfer: TransferRecord | None) -> bool:
        with self._db:
            cur = self._db.execute(
                "UPDATE calls SET outcome = ?, outcome_reason = ?, transfer = ?, ended_at = ?"
                " WHERE id = ? AND outcome IS NULL",
                (outcome, reason, _dump(asdict(transfer) if transfer else None), utcnow(), call_id),
            )
            return cur.rowcount > 0

    async def get(self, call_id: str) -> CallRecord | None:
        return await self._sql.run(self._get, call_id)

    async def orphans(self) -> list[CallRecord]:
        """Every call without an outcome: one data directory serves one host, and this runs before it takes calls
        (with ``--workers``, in their parent), so any such call was cut off by a process that died."""
        ids = await self._sql.run(self._unfinished_ids)
        return [record for call_id in ids if (record := await self.get(call_id)) is not None]

    def _unfinished_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM calls WHERE outcome IS NULL ORDER BY started_at")]

    async def purge(self, before: str) -> int:
        return await self._sql.run(self._purge, before)

    def _purge(self, before: str) -> int:
        self._db.execute("PRAGMA secure_delete = ON")  # overwrite, so no transcript lingers in free pages
        old = "SELECT id FROM calls WHERE started_at < ? AND outcome IS NOT NULL"
        with self._db:
            self._db.execute(f"DELETE FROM turns WHERE call_id IN ({old})", (before,))
            self._db.execute(f"DELETE FROM events WHERE call_id IN ({old})", (before,))
            deleted = self._db.execute(old.replace("SELECT id", "DELETE"), (before,)).rowcount
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor in the write-ahead log
        return deleted

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self._sql.run(self._recent, limit)

    def _get(self, call_id: str) -> CallRecord | None:
        row = self._db.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
        if row is None:
            return None
        record = CallRecord(
            call_id=row["id"],
            platform=row["platform"],
            stream_id=row["stream_id"],
            ani_raw=row["ani_raw"],
            ani_e164=row["ani_e164"],
            dialed=row["dialed"],
            started_at=row["started_at"],
            node=row["node"],
            ended_at=row["ended_at"],
            customer=_load(row["customer"]),
            case=_load(row["case"]),
            crm=_load(row["crm"]),
            outcome=row["outcome"],
            outcome_reason=row["outcome_reason"],
            transfer=TransferRecord.from_json(_load(row["transfer"])),
        )
        for t in self._db.execute("SELECT * FROM turns WHERE call_id = ? ORDER BY id", (call_id,)):
            record.turns.append(
                Turn(t["role"], t["text"], t["started_at"], t["ended_at"], t["latency_ms"], bool(t["interrupted"]))
            )
        for e in self._db.execute("SELECT * FROM events WHERE call_id = ? ORDER BY id", (call_id,)):
            add_event_view(record, CallEvent(e["kind"], e["at"], json.loads(e["data"])))
        return record

    def _recent(self, limit: int) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT id, platform, ani_e164, started_at, ended_at, outcome, outcome_reason,"
            " json_extract(customer, '$.name') AS customer_name, json_extract(\"case\", '$.number') AS case_number"
            " FROM calls ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    async def aclose(self) -> None:
        self._sql.close()


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
