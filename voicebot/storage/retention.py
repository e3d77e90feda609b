"""How long call content stays: transcripts, screen pops and delivered notes leave after ``retention.days``.

Calls still without an outcome and outbox items not yet delivered (pending or
parked) are never purged: retention must not lose what has not reached the CRM.
The server purges once a day; ``voicebot purge`` does it on demand.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallStore

log = logging.getLogger(__name__)

EVERY_SECS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Purged:
    calls: int
    outbox_items: int

    @property
    def counts(self) -> tuple[int, int]:
        return self.calls, self.outbox_items


def cutoff(days: int, now: datetime | None = None) -> str:
    return ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="milliseconds")


async def purge(store: CallStore, outbox: Outbox, days: int, now: datetime | None = None) -> Purged:
    before = cutoff(days, now)
    purged = Purged(calls=await store.purge(before), outbox_items=await outbox.purge(before))
    if purged.calls or purged.outbox_items:
        log.info("retention: deleted %d calls, %d delivered outbox items (over %d days old)", *purged.counts, days)
    return purged


async def purge_daily(store: CallStore, outbox: Outbox, days: int) -> None:
    while True:
        await purge(store, outbox, days)
        await asyncio.sleep(EVERY_SECS)
