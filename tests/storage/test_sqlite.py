"""SQLite files carry their schema version, and a file from an earlier release is upgraded in place."""

from __future__ import annotations

import sqlite3

import pytest

from voicebot.config import ConfigError
from voicebot.storage.sqlite.records import MIGRATIONS, SQLiteCallStore

# The call store's schema as released before versioning (user_version 0), verbatim.
UNVERSIONED = """
CREATE TABLE calls (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, stream_id TEXT, ani_raw TEXT, ani_e164 TEXT, dialed TEXT,
    started_at TEXT NOT NULL, ended_at TEXT, customer TEXT, "case" TEXT, crm TEXT, outcome TEXT,
    outcome_reason TEXT, transfer TEXT
);
CREATE INDEX calls_started ON calls(started_at);
CREATE TABLE turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL REFERENCES calls(id), role TEXT NOT NULL,
    text TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, latency_ms REAL,
    interrupted INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX turns_call ON turns(call_id, id);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, call_id TEXT NOT NULL REFERENCES calls(id), kind TEXT NOT NULL,
    at TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX events_call ON events(call_id, id);
INSERT INTO calls (id, platform, started_at, outcome) VALUES ('CA-old', 'twilio', '2026-11-01T09:00:00.000+00:00',
    'completed');
INSERT INTO turns (call_id, role, text, started_at)
    VALUES ('CA-old', 'caller', 'all set', '2026-11-01T09:00:01.000+00:00');
"""


def user_version(path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


async def test_a_call_store_from_before_versioning_is_upgraded_with_its_calls_kept(tmp_path):
    path = tmp_path / "calls.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED)
    store = SQLiteCallStore(path, "node-a")
    old = await store.get("CA-old")
    assert (old.outcome, [t.text for t in old.turns], old.node) == ("completed", ["all set"], None)
    await store.start_call("CA-new", "twilio", None, None, None, None)
    assert (await store.get("CA-new")).node == "node-a"
    await store.aclose()
    assert user_version(path) == len(MIGRATIONS)


async def test_a_new_file_gets_every_migration_and_reopening_changes_nothing(tmp_path):
    path = tmp_path / "calls.sqlite3"
    for _ in range(2):
        await SQLiteCallStore(path).aclose()
    assert user_version(path) == len(MIGRATIONS)


def test_a_file_newer_than_this_voicebot_is_refused(tmp_path):
    path = tmp_path / "calls.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(ConfigError, match="calls.sqlite3 is at schema version 3, newer than this voicebot knows"):
        SQLiteCallStore(path)
