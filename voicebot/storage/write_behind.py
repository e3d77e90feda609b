"""A call store that rides out its database being away: the call goes on, and its writes land when it is back.

A call cannot wait for a database failover: the caller would hear silence, and
a write that raised would lose what they said. So a write that fails is kept in
memory, in order, with every write after it, and retried until the store takes
them; meanwhile the call gets at once what it needs to go on (a provisional id
for a turn, which later writes about that turn are mapped from). Reads go to the
store as they are. What is held is lost only if this process dies before the
store comes back; shutdown waits a bounded time for it and logs what it drops.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from voicebot.storage.records import CallRecord, CallStore, Outcome, TransferRecord, Turn

log = logging.getLogger(__name__)

RETRY_SECS = 1.0
FLUSH_SECS = 10.0
# A write not done by then is held (and goes on in flight): a call does not wait out a pool's connect timeout.
PATIENCE_SECS = 1.0
# Errors that say the caller's write is wrong, not that the store is away: raised, never held.
MISTAKES = (ValueError, TypeError, KeyError, AssertionError)

Write = Callable[[], Awaitable[Any]]


class Held:
    """Writes to one store kept in order while it is away (the call store's here, the outbox's in ``Outbox.post``).

    A write waits at most ``patience_secs``; then it, and every write after it,
    wait here until :meth:`store_all` gets them through.
    """

    def __init__(self, what: str, patience_secs: float = PATIENCE_SECS):
        self.what = what
        self.patience_secs = patience_secs
        self._writes: deque[Write] = deque()

    def __len__(self) -> int:
        return len(self._writes)

    async def submit(self, write: Write, on_hold: Callable[[], Any] = lambda: None) -> Any:
        """Write now, or (the store away, or writes already held) hold it behind the others: ``on_hold()``."""
        if not self._writes:
            attempt = asyncio.ensure_future(write())
            try:
                return await asyncio.wait_for(asyncio.shield(attempt), self.patience_secs)
            except MISTAKES:
                raise
            except Exception as exc:  # TimeoutError included: the attempt goes on, and is awaited first
                why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                log.warning("%s unreachable (%s); holding writes until it is back", self.what, why)
                write = after(attempt, write)
        self._writes.append(write)
        return on_hold()

    async def store_all(self) -> None:
        """Store what is held, in order; raises, keeping the rest, while the store is still away. A write the store
        refuses as wrong is dropped, and logged."""
        while self._writes:
            try:
                await self._writes[0]()
            except MISTAKES as exc:
                log.error("a held %s write was refused and dropped: %s: %s", self.what, type(exc).__name__, exc)
            self._writes.popleft()


class WriteBehind:
    def __init__(self, store: CallStore, retry_secs: float = RETRY_SECS, patience_secs: float = PATIENCE_SECS):
        self.store = store
        self.retry_secs = retry_secs
        self._held = Held("call store", patience_secs)
        self._ids: dict[int, int] = {}  # provisional turn or event id -> the store's
        self._provisional = itertools.count(-1, -1)
        self._flusher: asyncio.Task | None = None

    @property
    def held(self) -> int:
        """Writes waiting for the store."""
        return len(self._held)

    async def _write(self, write: Write, on_hold: Callable[[], Any] = lambda: None) -> Any:
        result = await self._held.submit(write, on_hold)
        if self._held and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush(), name="call-store-write-behind")
        return result

    async def _flush(self) -> None:
        while True:
            try:
                await self._held.store_all()
            except Exception:
                await asyncio.sleep(self.retry_secs)
                continue
            log.info("call store back: every held write is stored")
            return

    def _id_write(self, insert: Callable[[], Awaitable[int]]) -> tuple[Write, Callable[[], int]]:
        """An insert returning an id; held, it answers a provisional id and records the real one when written."""
        provisional = next(self._provisional)

        async def write() -> int:
            real = await insert()
            self._ids[provisional] = real
            return real

        return write, lambda: provisional

    def _real(self, some_id: int) -> int:
        return self._ids.get(some_id, some_id)

    # -- the CallStore protocol ---------------------------------------------------

    async def start_call(
        self,
        call_id: str,
        platform: str,
        stream_id: str | None,
        ani_raw: str | None,
        ani_e164: str | None,
        dialed: str | None,
    ) -> None:
        await self._write(lambda: self.store.start_call(call_id, platform, stream_id, ani_raw, ani_e164, dialed))

    async def set_caller(self, call_id: str, customer: dict | None, case: dict | None, crm: dict) -> None:
        await self._write(lambda: self.store.set_caller(call_id, customer, case, crm))

    async def add_turn(self, call_id: str, turn: Turn) -> int:
        write, provisional = self._id_write(lambda: self.store.add_turn(call_id, turn))
        return await self._write(write, provisional)

    async def update_turn(self, turn_id: int, **changes: Any) -> None:
        await self._write(lambda: self.store.update_turn(self._real(turn_id), **changes))

    async def add_event(self, call_id: str, kind: str, data: dict[str, Any]) -> int:
        write, provisional = self._id_write(lambda: self.store.add_event(call_id, kind, data))
        return await self._write(write, provisional)

    async def relabel_events(self, event_ids: list[int], kind: str) -> None:
        await self._write(lambda: self.store.relabel_events([self._real(i) for i in event_ids], kind))

    async def finish(self, call_id: str, outcome: Outcome, reason: str, transfer: TransferRecord | None = None) -> bool:
        # Held, it is taken as the first outcome: a call finishes once, and the store keeps only the first.
        return await self._write(lambda: self.store.finish(call_id, outcome, reason, transfer), lambda: True)

    async def get(self, call_id: str) -> CallRecord | None:
        return await self.store.get(call_id)

    async def orphans(self) -> list[CallRecord]:
        return await self.store.orphans()

    async def purge(self, before: str) -> int:
        return await self.store.purge(before)

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        return await self.store.recent(limit)

    async def aclose(self, flush_secs: float = FLUSH_SECS) -> None:
        if self._flusher is not None and not self._flusher.done():
            done, _ = await asyncio.wait([self._flusher], timeout=flush_secs)
            if not done:
                self._flusher.cancel()
                log.error("call store still unreachable at shutdown: %d held writes dropped", len(self._held))
        await self.store.aclose()


def after(attempt: asyncio.Future, write: Write) -> Write:
    """The write whose first attempt is still in flight: its outcome first, and only if that failed, again."""

    async def again() -> Any:
        try:
            return await attempt
        except MISTAKES:
            raise
        except Exception:
            return await write()

    return again
