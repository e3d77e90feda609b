"""Where a process keeps call records and the outbox, chosen by ``store.url``.

Unset, SQLite files under ``data_dir`` (one host); ``postgresql://``, one
database shared by every node, with node leases so that the survivors close a
dead node's calls.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from voicebot.storage.outbox import OutboxStore
from voicebot.storage.write_behind import WriteBehind

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from voicebot.config import Settings


class NodeLeases(Protocol):
    """This node's claim to be alive, renewed every ``beat_secs``; let go at a clean exit."""

    node: str
    beat_secs: float

    async def renew(self) -> None: ...

    async def release(self) -> None: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Storage:
    calls: WriteBehind  # a call never waits for, or fails with, its store
    outbox: OutboxStore
    leases: NodeLeases | None  # shared stores only: who is alive, so survivors close a dead node's calls

    async def aclose(self) -> None:
        """The call store and the leases; the outbox's store is closed by its :class:`Outbox`."""
        await self.calls.aclose()
        if self.leases is not None:
            try:
                await self.leases.release()
            except Exception as exc:  # the database is away: the lease runs out by itself
                log.warning("node lease not released (%s: %s); it runs out in its own time", type(exc).__name__, exc)
            await self.leases.aclose()


def _sqlite(settings: Settings, node: str) -> Storage:
    from voicebot.storage.sqlite.outbox import SQLiteOutboxStore
    from voicebot.storage.sqlite.records import SQLiteCallStore

    return Storage(
        WriteBehind(SQLiteCallStore(settings.calls_path, node)), SQLiteOutboxStore(settings.outbox_path), None
    )


def _postgres(settings: Settings, node: str) -> Storage:
    # psycopg loads only for those who use it
    from voicebot.storage.postgres.nodes import NodeLeases as PostgresLeases
    from voicebot.storage.postgres.outbox import PostgresOutboxStore
    from voicebot.storage.postgres.records import PostgresCallStore

    assert settings.store.url is not None
    url = settings.store.url.get_secret_value()
    lease = settings.store.node_lease_secs
    return Storage(
        WriteBehind(PostgresCallStore(url, node)),
        PostgresOutboxStore(url, node),
        PostgresLeases(url, node, lease_secs=lease, beat_secs=max(0.5, lease / 5)),
    )


BACKENDS: dict[str, Callable[[Settings, str], Storage]] = {"sqlite": _sqlite, "postgresql": _postgres}


def open_storage(settings: Settings, node: str) -> Storage:
    return BACKENDS[settings.store.backend](settings, node)
