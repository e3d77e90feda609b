"""The PostgreSQL schema, as numbered migrations that a starting node applies by itself.

Version N is migration N (from 1), recorded in ``schema_migrations``. Nodes
starting at once take a transaction-scoped advisory lock first, so each
migration runs exactly once, whole or not at all (PostgreSQL's DDL is
transactional). ``voicebot db upgrade`` does the same on demand.
"""

from __future__ import annotations

import psycopg

from voicebot.config import ConfigError

# Any fixed key: it only has to be the same for every voicebot process on the database.
LOCK_KEY = 0x766F6963  # "voic"

MIGRATIONS: tuple[str, ...] = (
    # 1: call records, the outbox and node leases.
    """
    CREATE TABLE calls (
        id text PRIMARY KEY,
        platform text NOT NULL,
        stream_id text,
        ani_raw text,
        ani_e164 text,
        dialed text,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        customer jsonb,
        "case" jsonb,
        crm jsonb,
        outcome text,
        outcome_reason text,
        transfer jsonb,
        node text
    );
    CREATE INDEX calls_started ON calls (started_at);
    CREATE INDEX calls_unfinished ON calls (node) WHERE outcome IS NULL;
    CREATE TABLE turns (
        id bigserial PRIMARY KEY,
        call_id text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        role text NOT NULL,
        text text NOT NULL,
        started_at timestamptz NOT NULL,
        ended_at timestamptz,
        latency_ms double precision,
        interrupted boolean NOT NULL DEFAULT false
    );
    CREATE INDEX turns_call ON turns (call_id, id);
    CREATE TABLE events (
        id bigserial PRIMARY KEY,
        call_id text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
        kind text NOT NULL,
        at timestamptz NOT NULL DEFAULT now(),
        data jsonb NOT NULL
    );
    CREATE INDEX events_call ON events (call_id, id);
    CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'parked')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        claimed_by text,
        last_error text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
    -- Every node's outbox listens: a new item (from any node, or from an operator's INSERT) wakes them at once.
    CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('voicebot_outbox', '');
        RETURN NULL;
    END $$;
    CREATE TRIGGER outbox_inserted AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
    CREATE TABLE nodes (
        name text PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        lease_until timestamptz NOT NULL
    );
    """,
    # 2: the embedded CRM's tables (crm.backend = "local"), so every node looks callers up in one CRM.
    """
    CREATE TABLE customers (
        id text PRIMARY KEY,
        name text NOT NULL,
        first_name text NOT NULL,
        email text,
        created_at text NOT NULL
    );
    CREATE TABLE customer_phones (
        customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        phone text NOT NULL,
        e164 text,
        PRIMARY KEY (customer_id, phone)
    );
    CREATE INDEX customer_phones_e164 ON customer_phones (e164);
    CREATE TABLE cases (
        id text PRIMARY KEY,
        number text NOT NULL UNIQUE,
        title text NOT NULL,
        status text NOT NULL,
        customer_id text NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
        created_at text NOT NULL,
        updated_at text NOT NULL
    );
    CREATE INDEX cases_customer ON cases (customer_id, created_at);
    CREATE TABLE notes (
        id bigserial PRIMARY KEY,
        call_id text NOT NULL,
        customer_id text,
        case_id text,
        subject text NOT NULL,
        body text NOT NULL,
        created_at text NOT NULL
    );
    """,
)


class SchemaError(ConfigError):
    """The database's schema is newer than this voicebot: an older node must not write to it."""


def migrate(url: str, migrations: tuple[str, ...] = MIGRATIONS) -> tuple[int, int]:
    """Apply what the database lacks; returns (version before, version after)."""
    with psycopg.connect(url, connect_timeout=10) as db, db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").fetchone()
        before = row[0] if row else 0
        if before > len(migrations):
            raise SchemaError(
                f"the database is at schema version {before}; this voicebot knows up to {len(migrations)}: upgrade it"
            )
        for number, script in enumerate(migrations[before:], start=before + 1):
            db.execute(script)
            db.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
    return before, len(migrations)
