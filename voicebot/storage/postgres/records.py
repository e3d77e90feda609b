"""Call records in PostgreSQL, shared by every node (``store.url``).

Each call names the node holding it; a node whose lease in ``nodes`` has run
out is dead, and a surviving node adopts its unfinished calls to close them
(:meth:`PostgresCallStore.orphans`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from voicebot.storage.postgres.pool import Database, iso
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

# A dead node's unfinished calls; the update re-checks ``node`` so two survivors never adopt the same call.
_ADOPT = """
UPDATE calls c SET node = %(me)s
FROM (
    SELECT id, node FROM calls
    WHERE outcome IS NULL AND node IS DISTINCT FROM %(me)s
      AND NOT EXISTS (SELECT 1 FROM nodes n WHERE n.name = calls.node AND n.lease_until > now())
) dead
WHERE c.id = dead.id AND c.node IS NOT DISTINCT FROM dead.node AND c.outcome IS NULL
RETURNING c.id
"""


class PostgresCallStore:
    def __init__(self, url: str, node: str, max_connections: int = 4):
        self._db = Database(url, max_connections=max_connections, name="call-store")
        self.node = node

    async def _write(self, sql: str, args: tuple) -> Any:
        """Run one statement in its own transaction; the first column of its first row, if it returns rows."""

        async def write() -> Any:
            async with self._db.transaction() as conn:
                cur = await conn.execute(sql, args)
                row = await cur.fetchone() if cur.description else None
                return next(iter(row.values())) if row else cur.rowcount

        return await self._db.shielded(write())

    async def start_call(
        self,
        call_id: str,
        platform: str,
        stream_id: str | None,
        ani_raw: str | None,
        ani_e164: str | None,
        dialed: str | None,
    ) -> None:
        await self._write(
            "INSERT INTO calls (id, platform, stream_id, ani_raw, ani_e164, dialed, started_at, node)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (call_id, platform, stream_id, ani_raw, ani_e164, dialed, utcnow(), self.node),
        )

    async def set_caller(self, call_id: str, customer: dict | None, case: dict | None, crm: dict) -> None:
        await self._write(
            'UPDATE calls SET customer = %s, "case" = %s, crm = %s WHERE id = %s',
            (_json(customer), _json(case), _json(crm), call_id),
        )

    async def add_turn(self, call_id: str, turn: Turn) -> int:
        return await self._write(
            "INSERT INTO turns (call_id, role, text, started_at, ended_at, latency_ms, interrupted)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (call_id, turn.role, turn.text, turn.started_at, turn.ended_at, turn.latency_ms, turn.interrupted),
        )

    async def update_turn(self, turn_id: int, **changes: Any) -> None:
        check_turn_changes(changes)
        assignments = ", ".join(f"{k} = %s" for k in changes)
        await self._write(f"UPDATE turns SET {assignments} WHERE id = %s", (*changes.values(), turn_id))

    async def add_event(self, call_id: str, kind: str, data: dict[str, Any]) -> int:
        return await self._write(
            "INSERT INTO events (call_id, kind, at, data) VALUES (%s, %s, %s, %s) RETURNING id",
            (call_id, kind, utcnow(), _json(data)),
        )

    async def relabel_events(self, event_ids: list[int], kind: str) -> None:
        await self._write("UPDATE events SET kind = %s WHERE id = ANY(%s)", (kind, list(event_ids)))

    async def finish(self, call_id: str, outcome: Outcome, reason: str, transfer: TransferRecord | None = None) -> bool:
        changed = await self._write(
            "UPDATE calls SET outcome = %s, outcome_reason = %s, transfer = %s, ended_at = %s"
            " WHERE id = %s AND outcome IS NULL",
            (outcome, reason, _json(asdict(transfer) if transfer else None), utcnow(), call_id),
        )
        return changed > 0

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._db.transaction() as conn:
            cur = await conn.execute("SELECT * FROM calls WHERE id = %s", (call_id,))
            row = await cur.fetchone()
            if row is None:
                return None
            record = _record(row)
            turns = await conn.execute("SELECT * FROM turns WHERE call_id = %s ORDER BY id", (call_id,))
            for t in await turns.fetchall():
                record.turns.append(
                    Turn(t["role"], t["text"], _iso(t["started_at"]) or "", _iso(t["ended_at"]), t["latency_ms"],
                         t["interrupted"])
                )  # fmt: skip
            events = await conn.execute("SELECT * FROM events WHERE call_id = %s ORDER BY id", (call_id,))
            for e in await events.fetchall():
                add_event_view(record, CallEvent(e["kind"], _iso(e["at"]) or "", e["data"]))
        return record

    async def orphans(self) -> list[CallRecord]:
        """Unfinished calls of nodes whose lease has run out, adopted by this node (which must hold a lease)."""

        async def adopt() -> list[str]:
            async with self._db.transaction() as conn:
                cur = await conn.execute(_ADOPT, {"me": self.node})
                return [row["id"] for row in await cur.fetchall()]

        ids = await self._db.shielded(adopt())
        return [record for call_id in ids if (record := await self.get(call_id)) is not None]

    async def purge(self, before: str) -> int:
        # Turns and events go with their call (ON DELETE CASCADE).
        return await self._write("DELETE FROM calls WHERE started_at < %s AND outcome IS NOT NULL", (before,))

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT id, platform, ani_e164, started_at, ended_at, outcome, outcome_reason,"
                " customer->>'name' AS customer_name, \"case\"->>'number' AS case_number"
                " FROM calls ORDER BY started_at DESC, id DESC LIMIT %s",
                (limit,),
            )
            rows = await cur.fetchall()
        return [{k: _iso(v) if isinstance(v, datetime) else v for k, v in row.items()} for row in rows]

    async def aclose(self) -> None:
        await self._db.aclose()


def _record(row: dict[str, Any]) -> CallRecord:
    return CallRecord(
        call_id=row["id"],
        platform=row["platform"],
        stream_id=row["stream_id"],
        ani_raw=row["ani_raw"],
        ani_e164=row["ani_e164"],
        dialed=row["dialed"],
        started_at=_iso(row["started_at"]) or "",
        node=row["node"],
        ended_at=_iso(row["ended_at"]),
        customer=row["customer"],
        case=row["case"],
        crm=row["crm"],
        outcome=row["outcome"],
        outcome_reason=row["outcome_reason"],
        transfer=TransferRecord.from_json(row["transfer"]),
    )


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)
