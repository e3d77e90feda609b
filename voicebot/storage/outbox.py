"""A durable outbox: post-call CRM writes and screen-pop webhooks that are never lost.

An item is stored before its first attempt and marked done only when its
handler succeeds. Failures are retried with exponential backoff, across
restarts; an item that cannot succeed (a permanent error, or too many attempts)
is parked with its last error for a person to look at, never dropped.

The delivery loop is here; the items live in an :class:`OutboxStore`: SQLite
under ``data_dir`` (:mod:`voicebot.storage.sqlite.outbox`) or PostgreSQL shared
by several nodes (:mod:`voicebot.storage.postgres.outbox`). An attempt claims
its item for a lease, so one process attempts it; one that dies mid-attempt
leaves it to be taken over when the lease runs out. Delivery is at least once:
a process killed after its handler succeeded but before the item was marked
done delivers that item again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from voicebot.storage.write_behind import FLUSH_SECS, Held

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None]]
Status = Literal["pending", "done", "parked"]

# An attempt in progress holds its item this long; if its process dies, another (or the next run) retries it.
CLAIM_SECS = 60.0
# With nothing due, the loop looks again this often: for items another process stored or released.
IDLE_SECS = 60.0


class PermanentError(Exception):
    """Raised by a handler when retrying cannot help (the item is parked at once)."""


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PermanentError) or getattr(exc, "retryable", True) is False


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    kind: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    next_attempt_at: float  # Unix time
    last_error: str | None
    created_at: str
    updated_at: str


class OutboxStore(Protocol):
    """Where outbox items live. Times of next attempts are the store's own clock's (the database server's)."""

    async def insert(self, kind: str, payload: str) -> int:
        """Store a pending item, due now."""

    async def claim(self, busy: tuple[int, ...], limit: int) -> list[OutboxItem]:
        """Due items not in ``busy``, each held for its lease so that no other process attempts it too."""

    async def listen(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when any process stores an item, until cancelled; a store that cannot tell returns at once
        (the loop then finds other processes' items when it next looks, within ``idle_secs``)."""

    async def seconds_to_next(self, busy: tuple[int, ...]) -> float | None:
        """How long until a pending item not in ``busy`` is due (0 if one is); None if there is none."""

    async def update(self, item_id: int, status: Status, attempts: int, delay: float, error: str | None) -> None:
        """Record an attempt's result; a pending item is next due ``delay`` seconds from now."""

    async def items(self, status: Status | None, limit: int) -> list[OutboxItem]: ...

    async def counts(self) -> dict[str, int]: ...

    async def oldest_pending(self) -> str | None: ...

    async def requeue(self, item_id: int) -> bool:
        """Put a parked item back in line with its attempts reset; False if it was not parked."""

    async def purge(self, before: str) -> int:
        """Delete delivered items last updated before ``before`` (ISO time); pending and parked ones stay."""

    async def aclose(self) -> None: ...


class Outbox:
    def __init__(
        self,
        store: OutboxStore,
        handlers: dict[str, Handler],
        *,
        max_attempts: int = 12,
        backoff_base_secs: float = 1.0,
        backoff_max_secs: float = 300.0,
        kinds: tuple[str, ...] = (),
        idle_secs: float = IDLE_SECS,
        concurrency: int = 4,
    ):
        """``kinds`` lets an outbox without ``handlers`` store items for another process to deliver.

        At most ``concurrency`` attempts run at once: after an outage the backlog reaches the CRM at a pace it
        takes, and with several processes each claims only what it can attempt, so the others get the rest.
        """
        self.store = store
        self.handlers = handlers
        self.kinds = frozenset(kinds or handlers)
        self.max_attempts = max_attempts
        self.backoff_base_secs = backoff_base_secs
        self.backoff_max_secs = backoff_max_secs
        self.idle_secs = idle_secs
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._worker: asyncio.Task | None = None
        self._listener: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._busy: set[int] = set()  # ids being attempted right now
        self._held = Held("outbox store")  # posted while the store was away

    # -- producing -------------------------------------------------------------

    async def enqueue(self, kind: str, payload: dict[str, Any]) -> int:
        """Store the item (durably, before any attempt) and wake the worker."""
        if kind not in self.kinds:
            raise ValueError(f"no outbox handler for {kind!r}")
        item_id = await self.store.insert(kind, json.dumps(payload, default=str))
        self._wake.set()
        return item_id

    async def post(self, kind: str, payload: dict[str, Any]) -> None:
        """Enqueue for a call that cannot wait: with the store away, the item is held in memory, in order, and
        stored by the worker once the store is back (lost only if this process dies first)."""
        if kind not in self.kinds:
            raise ValueError(f"no outbox handler for {kind!r}")
        text = json.dumps(payload, default=str)
        await self._held.submit(lambda: self.store.insert(kind, text))
        self._wake.set()

    @property
    def held(self) -> int:
        """Items posted while the store was away, not stored yet."""
        return len(self._held)

    # -- delivering ------------------------------------------------------------

    def start(self) -> None:
        """Deliver what is due now, including items left pending by an earlier run or another process."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="outbox")
            self._listener = asyncio.create_task(self.store.listen(self._wake.set), name="outbox-listener")

    async def _work(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._held.store_all()
                wait = await self._deliver_due()
            except Exception as exc:  # the store is unreachable: items stay stored, try again shortly
                log.warning("outbox: cannot reach its store (%s: %s); retrying", type(exc).__name__, exc)
                wait = min(self.idle_secs, 5.0)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
            except TimeoutError:
                pass

    async def _deliver_due(self) -> float:
        free = self.concurrency - len(self._busy)
        for item in await self.store.claim(tuple(self._busy), free) if free > 0 else []:
            self._busy.add(item.id)
            task = asyncio.create_task(self._attempt(item))
            self._in_flight.add(task)
            task.add_done_callback(self._finished(item.id))
        due_in = await self.store.seconds_to_next(tuple(self._busy))
        return self.idle_secs if due_in is None else min(self.idle_secs, due_in)

    def _finished(self, item_id: int) -> Callable[[asyncio.Task], None]:
        def done(task: asyncio.Task) -> None:
            self._in_flight.discard(task)
            self._busy.discard(item_id)
            self._wake.set()

        return done

    async def _attempt(self, item: OutboxItem) -> None:
        try:
            await self.handlers[item.kind](item.payload)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:1000]
            if getattr(exc, "counts_as_attempt", True) is False:
                # Not sent at all (e.g. an open circuit): wait as told, without using up an attempt.
                wait = max(getattr(exc, "retry_in", 0.0), self.backoff_base_secs)
                await self._record(item, "pending", item.attempts, wait, error)
                return
            attempts = item.attempts + 1
            if is_permanent(exc) or attempts >= self.max_attempts:
                log.error("outbox item %d (%s) parked after %d attempts: %s", item.id, item.kind, attempts, error)
                await self._record(item, "parked", attempts, 0.0, error)
            else:
                delay = self._backoff(attempts)
                log.warning(
                    "outbox item %d (%s) attempt %d failed, retry in %.1fs: %s",
                    item.id,
                    item.kind,
                    attempts,
                    delay,
                    error,
                )
                await self._record(item, "pending", attempts, delay, error)
            return
        await self._record(item, "done", item.attempts + 1, 0.0, None)

    async def _record(self, item: OutboxItem, status: Status, attempts: int, delay: float, error: str | None) -> None:
        """Write an attempt's result; if the store cannot take it, the claim's lease runs out and it is tried again."""
        try:
            await self.store.update(item.id, status, attempts, delay, error)
        except Exception as exc:
            log.warning(
                "outbox item %d: result not stored (%s: %s); retried after its claim", item.id, type(exc).__name__, exc
            )

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.backoff_max_secs, self.backoff_base_secs * 2 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)

    # -- inspecting ------------------------------------------------------------

    async def items(self, status: Status | None = None, limit: int = 200) -> list[OutboxItem]:
        return await self.store.items(status, limit)

    async def counts(self) -> dict[str, int]:
        return await self.store.counts()

    async def oldest_pending(self) -> str | None:
        """When the oldest undelivered item was queued (ISO time), or None: how far behind the CRM writes are."""
        return await self.store.oldest_pending()

    async def retry_parked(self, item_id: int) -> bool:
        """Put a parked item back in line (after someone fixed the cause)."""
        changed = await self.store.requeue(item_id)
        self._wake.set()
        return changed

    async def purge(self, before: str) -> int:
        """Delete delivered items last updated before ``before`` (ISO time); pending and parked ones stay."""
        return await self.store.purge(before)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait (bounded) for attempts under way, e.g. at shutdown."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=timeout)

    async def _flush_held(self) -> None:
        """At shutdown, give held items a bounded time to reach the store (the worker stores them, if running)."""
        if self._worker is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._held.store_all(), FLUSH_SECS)
        else:
            deadline = asyncio.get_running_loop().time() + FLUSH_SECS
            while self._held and asyncio.get_running_loop().time() < deadline:
                self._wake.set()
                await asyncio.sleep(0.1)
        if self._held:
            log.error("outbox: its store is still unreachable at shutdown: %d held items dropped", len(self._held))

    async def aclose(self) -> None:
        await self._flush_held()
        await self.drain()
        for task in (self._worker, self._listener):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.store.aclose()
