"""The embedded CRM: customers and cases in a local SQLite file, or in the nodes' shared PostgreSQL.

It is the default backend, so ``voicebot serve`` works with no account anywhere,
and the one the ``voicebot crm`` commands manage. With ``store.url`` its tables
are in that database (:mod:`voicebot.storage.postgres.compat`), so every node
finds the same callers and the notes of calls on any node land in one place.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import sqlite3
import uuid
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from voicebot.tools.ani import CallerNumber, normalize_ani, same_number
from voicebot.tools.crm.base import CallNote, Case, Customer, CustomerMatch

if TYPE_CHECKING:
    from voicebot.config import Settings
    from voicebot.storage.postgres.compat import SharedDatabase

CLOSED_STATUSES = frozenset({"resolved", "closed", "cancelled", "canceled", "solved"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    first_name TEXT NOT NULL,
    email TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customer_phones (
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    phone TEXT NOT NULL,
    e164 TEXT,
    PRIMARY KEY (customer_id, phone)
);
CREATE INDEX IF NOT EXISTS customer_phones_e164 ON customer_phones(e164);
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_customer ON cases(customer_id, created_at);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    customer_id TEXT,
    case_id TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _first_name(name: str) -> str:
    return name.strip().split()[0] if name.strip() else name


def _customer(row: sqlite3.Row, phones: Iterable[str]) -> Customer:
    return Customer(
        id=row["id"],
        name=row["name"],
        first_name=row["first_name"],
        email=row["email"],
        phones=tuple(phones),
    )


def _case(row: sqlite3.Row) -> Case:
    return Case(
        id=row["id"],
        number=row["number"],
        title=row["title"],
        status=row["status"],
        customer_id=row["customer_id"],
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
        is_open=row["status"].strip().lower() not in CLOSED_STATUSES,
    )


class LocalCRM:
    """The embedded CRM. Blocking database work runs in a thread, off the event loop."""

    name = "local"

    def __init__(self, database: Path | str, public_url: str = "", default_region: str = "US"):
        """``database``: an SQLite file, or a ``postgresql://`` URL (the schema is the store's migrations')."""
        self.public_url = public_url.rstrip("/")
        self.default_region = default_region
        self._shared: SharedDatabase | None = None
        if isinstance(database, str) and database.split("://", 1)[0] in ("postgresql", "postgres"):
            from voicebot.storage.postgres.compat import SharedDatabase  # psycopg loads only for those who use it

            self._shared = SharedDatabase(database)
            self.where = f"PostgreSQL at {self._shared.where}"
            return
        self.path = Path(database)
        self.where = str(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.executescript(_SCHEMA)

    def _connect(self) -> Any:
        """A connection with sqlite3's surface (``?`` placeholders, rows by name or position, ``with`` commits)."""
        if self._shared is not None:
            return self._shared.connect()
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA journal_mode = WAL")
        return db

    # -- management (used by the CLI and the demo seed) -------------------------

    def is_empty(self) -> bool:
        with closing(self._connect()) as db:
            return db.execute("SELECT COUNT(*) FROM customers").fetchone()[0] == 0

    def add_customer(
        self, *, name: str, phones: Iterable[str], email: str | None = None, id: str | None = None
    ) -> Customer:
        phones = [p for p in phones if p.strip()]
        if not name.strip():
            raise ValueError("a customer needs a name")
        parsed = [(p, normalize_ani(p, self.default_region).e164) for p in phones]
        bad = [p for p, e164 in parsed if e164 is None]
        if bad:
            raise ValueError(f"not a phone number: {', '.join(bad)}")
        with closing(self._connect()) as db, db:
            existing = self._find_ids(db, [e164 for _, e164 in parsed if e164])
            customer_id = id or (existing[0] if existing else f"cust-{uuid.uuid4().hex[:10]}")
            db.execute(
                "INSERT INTO customers (id, name, first_name, email, created_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET name=excluded.name, first_name=excluded.first_name,"
                " email=COALESCE(excluded.email, customers.email)",
                (customer_id, name.strip(), _first_name(name), email, _now()),
            )
            db.executemany(
                "INSERT INTO customer_phones (customer_id, phone, e164) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [(customer_id, p, e164) for p, e164 in parsed],
            )
            return self._load_customer(db, customer_id)

    def add_case(
        self,
        *,
        phone: str,
        number: str,
        title: str,
        status: str = "New",
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> Case:
        caller = normalize_ani(phone, self.default_region)
        with closing(self._connect()) as db, db:
            ids = self._find_ids(db, [caller.e164] if caller.e164 else [])
            if not ids:
                raise LookupError(f"no customer with phone {phone!r}; add the customer first")
            created = created_at or _now()
            db.execute(
                "INSERT INTO cases (id, number, title, status, customer_id, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(number) DO UPDATE SET title=excluded.title,"
                " status=excluded.status, updated_at=excluded.updated_at",
                (f"case-{uuid.uuid4().hex[:10]}", number, title, status, ids[0], created, updated_at or created),
            )
            row = db.execute("SELECT * FROM cases WHERE number = ?", (number,)).fetchone()
            return _case(row)

    def import_records(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        """Import customers (each with ``phones`` and optional ``cases``); returns counts."""
        customers = cases = 0
        for record in records:
            phones = record.get("phones") or ([record["phone"]] if record.get("phone") else [])
            if not phones:
                raise ValueError(f"customer {record.get('name')!r} has no phone")
            self.add_customer(name=record["name"], phones=phones, email=record.get("email"), id=record.get("id"))
            customers += 1
            for case in record.get("cases", []):
                self.add_case(phone=phones[0], **{k: case[k] for k in case if k in _CASE_KEYS})
                cases += 1
        return customers, cases

    def import_file(self, path: Path) -> tuple[int, int]:
        """JSON (``{"customers": [...]}``) or CSV (phone,name,email,case_number,case_title,case_status)."""
        if path.suffix.lower() == ".csv":
            return self.import_records(_records_from_csv(path))
        data = json.loads(path.read_text())
        return self.import_records(data["customers"] if isinstance(data, dict) else data)

    def seed_demo(self) -> None:
        demo = json.loads(resources.files("voicebot.data").joinpath("demo_crm.json").read_text())
        self.import_records(demo["customers"])

    def list_customers(self) -> list[tuple[Customer, list[Case]]]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT id FROM customers ORDER BY name").fetchall()
            result = []
            for row in rows:
                customer = self._load_customer(db, row["id"])
                case_rows = db.execute(
                    "SELECT * FROM cases WHERE customer_id = ? ORDER BY created_at DESC", (row["id"],)
                ).fetchall()
                result.append((customer, [_case(r) for r in case_rows]))
            return result

    def notes(self, case_id: str | None = None) -> list[dict[str, Any]]:
        args: tuple[str, ...] = ()
        with closing(self._connect()) as db:
            sql = "SELECT * FROM notes"
            if case_id:
                sql, args = sql + " WHERE case_id = ?", (case_id,)
            return [dict(r) for r in db.execute(sql + " ORDER BY id", args)]

    def get_case(self, case_id: str) -> Case | None:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
            return _case(row) if row else None

    def get_customer(self, customer_id: str) -> Customer | None:
        with closing(self._connect()) as db:
            if db.execute("SELECT 1 FROM customers WHERE id = ?", (customer_id,)).fetchone() is None:
                return None
            return self._load_customer(db, customer_id)

    # -- the CRM protocol ------------------------------------------------------

    async def find_customer(self, caller: CallerNumber) -> CustomerMatch | None:
        return await asyncio.to_thread(self._find_customer, caller)

    async def latest_case(self, customer: Customer) -> Case | None:
        return await asyncio.to_thread(self._latest_case, customer.id)

    async def add_note(self, note: CallNote) -> None:
        await asyncio.to_thread(self._add_note, note)

    def case_url(self, case: Case) -> str:
        return f"{self.public_url}/crm/cases/{case.id}"

    def customer_url(self, customer: Customer) -> str:
        return f"{self.public_url}/crm/customers/{customer.id}"

    def new_case_url(self, customer: Customer | None, caller: CallerNumber) -> str:
        query = {"phone": caller.e164 or caller.raw}
        if customer:
            query |= {"customer_id": customer.id, "customer_name": customer.name}
        return f"{self.public_url}/crm/cases/new?{urlencode(query)}"

    async def close(self) -> None:
        if self._shared is not None:
            self._shared.close()

    def _find_customer(self, caller: CallerNumber) -> CustomerMatch | None:
        if caller.e164 is None:
            return None
        with closing(self._connect()) as db:
            ids = self._find_ids(db, [caller.e164])
            if not ids:
                # Numbers stored without a parseable form: confirm candidates by suffix.
                suffix = caller.national[-7:] if caller.national else ""
                rows = db.execute("SELECT customer_id, phone FROM customer_phones WHERE e164 IS NULL").fetchall()
                ids = sorted(
                    {
                        r["customer_id"]
                        for r in rows
                        if re.sub(r"\D", "", r["phone"]).endswith(suffix)
                        and same_number(r["phone"], caller, self.default_region)
                    }
                )
            if not ids:
                return None
            return CustomerMatch(customer=self._load_customer(db, ids[0]), candidates=len(ids))

    def _find_ids(self, db: sqlite3.Connection, e164s: list[str]) -> list[str]:
        if not e164s:
            return []
        marks = ",".join("?" * len(e164s))
        rows = db.execute(
            f"SELECT c.id AS customer_id FROM customers c WHERE c.id IN"
            f" (SELECT customer_id FROM customer_phones WHERE e164 IN ({marks})) ORDER BY c.created_at, c.id",
            e164s,
        ).fetchall()
        return [r["customer_id"] for r in rows]

    def _load_customer(self, db: sqlite3.Connection, customer_id: str) -> Customer:
        row = db.execute("SELECT * FROM customers WHERE id = ?", (customer_id,)).fetchone()
        phones = [
            r["phone"]
            for r in db.execute(
                "SELECT phone FROM customer_phones WHERE customer_id = ? ORDER BY phone", (customer_id,)
            )
        ]
        return _customer(row, phones)

    def _latest_case(self, customer_id: str) -> Case | None:
        with closing(self._connect()) as db:
            rows = db.execute(
                "SELECT * FROM cases WHERE customer_id = ? ORDER BY created_at DESC, number DESC",
                (customer_id,),
            ).fetchall()
        cases = [_case(r) for r in rows]
        return next((c for c in cases if c.is_open), None)

    def _add_note(self, note: CallNote) -> None:
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO notes (call_id, customer_id, case_id, subject, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (note.call_id, note.customer_id, note.case_id, note.subject, note.body, note.created_at),
            )


_CASE_KEYS = {"number", "title", "status", "created_at", "updated_at"}


def _records_from_csv(path: Path) -> list[dict[str, Any]]:
    by_phone: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            phone = (row.get("phone") or "").strip()
            record = by_phone.setdefault(
                phone, {"name": row["name"], "email": row.get("email") or None, "phones": [phone], "cases": []}
            )
            if row.get("case_number"):
                record["cases"].append(
                    {
                        "number": row["case_number"],
                        "title": row.get("case_title") or "",
                        "status": row.get("case_status") or "New",
                    }
                )
    return list(by_phone.values())


def open_local_crm(settings: Settings, public_url: str) -> LocalCRM:
    """The ``crm.backend = "local"`` factory: seeds the demo data into an empty CRM."""
    crm = LocalCRM(settings.crm_database, public_url, settings.telephony.default_region)
    if settings.crm.seed_demo_data and crm.is_empty():
        crm.seed_demo()
    return crm
