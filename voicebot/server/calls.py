"""The calls this process holds: each admitted against ``limits.max_calls`` and counted out when it ends.

Every platform's media stream comes through :meth:`CallRegistry.admitted`, so
the count in ``/api/metrics``, the refusals at capacity and the shutdown drain
all read one ledger.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from voicebot.dialogue import HandOverReason
from voicebot.server.metrics import Counters
from voicebot.server.prometheus import Metrics
from voicebot.storage.records import utcnow

log = logging.getLogger(__name__)

HandOver = Callable[[HandOverReason], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One server process as the cluster sees it (``GET /api/nodes``)."""

    node: str  # host:pid:random, see node_name()
    calls_in_progress: int
    max_calls: int
    draining: bool
    seen_at: str


@dataclass(eq=False)
class CallPlace:
    """One admitted call; ``hand_over`` is set once its pipeline runs, so a shutdown can send it to an agent."""

    platform: str
    call_id: str
    hand_over: HandOver | None = None


def node_name() -> str:
    """This process, unique across restarts: a container restarted as pid 1 on the same host is a new node, so the
    calls its previous life left unfinished are not mistaken for its own."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class CallRegistry:
    def __init__(self, limit: int, counters: Counters, metrics: Metrics | None = None, node: str | None = None):
        self.limit = limit
        self.node = node or node_name()
        self.counters = counters
        self.metrics = metrics or Metrics()
        self.draining = False  # SIGTERM came: no new calls
        self._places: set[CallPlace] = set()

    @property
    def in_progress(self) -> int:
        return len(self._places)

    def status(self) -> NodeStatus:
        """This process as its heartbeat and ``GET /api/nodes`` describe it."""
        return NodeStatus(self.node, len(self._places), self.limit, self.draining, utcnow())

    def refusal(self) -> str | None:
        """Why a new call would be refused now (None: it would be admitted)."""
        if self.draining:
            return "shutting down"
        if len(self._places) >= self.limit:
            return f"{self.limit} calls in progress (limits.max_calls)"
        return None

    def refuse(self, platform: str, call_id: str, why: str) -> None:
        self.counters.add("calls_refused")
        self.metrics.refusals.labels("draining" if self.draining else "capacity").inc()
        log.warning("%s call %s refused: %s", platform, call_id, why)

    @contextmanager
    def admitted(self, platform: str, call_id: str) -> Iterator[CallPlace | None]:
        """A place for the call for as long as the block runs, or None: over the limit, or shutting down."""
        if (why := self.refusal()) is not None:
            self.refuse(platform, call_id, why)
            yield None
            return
        place = CallPlace(platform, call_id)
        self._places.add(place)
        self.metrics.calls_in_progress.inc()
        try:
            yield place
        finally:
            self._places.discard(place)
            self.metrics.calls_in_progress.dec()

    async def hand_over_all(self, reason: HandOverReason) -> None:
        """Every call still running goes to an agent, told why."""
        for place in list(self._places):
            if place.hand_over is not None:
                await place.hand_over(reason)
