"""Call records, written to SQLite as the call happens.

Every turn, intent, keypress and screen pop is stored the moment it occurs, so
a caller hanging up (or the server dying) loses nothing said so far. Writes go
through one worker thread: SQLite stays off the event loop and in order.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from voicebot.storage.sqlite_worker import SQLiteWorker

Outcome = Literal["transferred", "completed", "abandoned", "error"]
Role = Literal["caller", "bot"]

_SCHEMA = """
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
"""


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The call as its platform names it."""

    id: str
    platform: str
    stream_id: str | None
    dialed: str | None
    started_at: str


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """Where a transferred caller was sent: what a platform asking after the call is told."""

    mode: Literal["dial", "enqueue"]
    target: str
    screen_pop_id: str
    action: Literal["open_case", "new_case_form"]

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TransferRecord | None:
        return None if not data else cls(data["mode"], data["target"], data["screen_pop_id"], data["action"])


@dataclass(slots=True)
class Turn:
    role: Role
    text: str
    started_at: str
    ended_at: str | None = None
    latency_ms: float | None = None
    interrupted: bool = False


@dataclass(slots=True)
class CallEvent:
    kind: str
    at: str
    data: dict[str, Any]


@dataclass(slots=True)
class CallRecord:
    call_id: str
    platform: str
    stream_id: str | None
    ani_raw: str | None
    ani_e164: str | None
    dialed: str | None
    started_at: str
    ended_at: str | None = None
    customer: dict[str, Any] | None = None
    case: dict[str, Any] | None = None
    crm: dict[str, Any] | None = None
    outcome: Outcome | None = None
    outcome_reason: str | None = None
    transfer: TransferRecord | None = None
    turns: list[Turn] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    dtmf: list[dict[str, Any]] = field(default_factory=list)
    screen_pops: list[dict[str, Any]] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallStore:
    def __init__(self, path: Path):
        self._sql = SQLiteWorker(path, _SCHEMA, name="call-store", synchronous="NORMAL")
        self.path = self._sql.path
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
            "INSERT INTO calls (id, platform, stream_id, ani_raw, ani_e164, dialed, started_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
            (call_id, platform, stream_id, ani_raw, ani_e164, dialed, utcnow()),
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
        allowed = {"text", "ended_at", "latency_ms", "interrupted"}
        if not changes or not set(changes) <= allowed:
            raise ValueError(f"turn fields to update must be among {sorted(allowed)}")
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
        """Keep events but file them under another kind (an intent the caller's going on took back)."""
        for event_id in event_ids:
            await self._sql.run(self._write, "UPDATE events SET kind = ? WHERE id = ?", (kind, event_id))

    async def finish(self, call_id: str, outcome: Outcome, reason: str, transfer: TransferRecord | None = None) -> bool:
        """Set the outcome once; a later finish (e.g. the socket closing after a transfer) is ignored."""
        changed = await self._sql.run(self._finish, call_id, outcome, reason, transfer)
        return changed

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

    async def unfinished(self) -> list[CallRecord]:
        """Calls without an outcome: in progress, or cut off when a server process died."""
        ids = await self._sql.run(self._unfinished_ids)
        return [record for call_id in ids if (record := await self.get(call_id)) is not None]

    def _unfinished_ids(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT id FROM calls WHERE outcome IS NULL ORDER BY started_at")]

    async def purge(self, before: str) -> int:
        """Delete finished calls started before ``before`` (ISO time) with their turns and events; returns calls."""
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
            event = CallEvent(e["kind"], e["at"], json.loads(e["data"]))
            views = {"intent": record.intents, "dtmf": record.dtmf, "screen_pop": record.screen_pops}
            if event.kind in views:
                views[event.kind].append({"at": event.at, **event.data})
            else:
                record.events.append(event)
        return record

    def _recent(self, limit: int) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "SELECT id, platform, ani_e164, started_at, ended_at, outcome, outcome_reason,"
            " json_extract(customer, '$.name') AS customer_name, json_extract(\"case\", '$.number') AS case_number"
            " FROM calls ORDER BY started_at DESC, rowid DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [dict(r) for r in rows]

    def close(self) -> None:
        self._sql.close()


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str)


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)
