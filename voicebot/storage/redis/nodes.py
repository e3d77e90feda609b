"""Which voicebot processes are up across the cluster, and how many calls each holds (``GET /api/nodes``).

Each process writes its own key every :data:`BEAT_SECS`, expiring after
:data:`LEASE_SECS`: a process that dies (even ``kill -9``) drops out of the view
within the lease, with no one to tidy up after it. Admission stays per process
(``limits.max_calls``); this is the cluster-wide view an operator or an
autoscaler reads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from voicebot.server.calls import NodeStatus

log = logging.getLogger(__name__)

PREFIX = "voicebot:node:"
BEAT_SECS = 2.0
LEASE_SECS = 10


class NodeBeacon:
    def __init__(
        self,
        url: str,
        status: Callable[[], NodeStatus],
        prefix: str = PREFIX,
        beat_secs: float = BEAT_SECS,
        lease_secs: float = LEASE_SECS,
    ):
        """``status`` describes this process afresh at each beat."""
        self._redis = aioredis.from_url(url, socket_connect_timeout=2.0)
        self._status = status
        self._prefix = prefix
        self._beat_secs = beat_secs
        self._lease_secs = lease_secs
        self.node = status().node

    async def beat(self) -> None:
        """Announce this process until cancelled; Redis being away only delays the next announcement."""
        while True:
            try:
                await self._redis.set(
                    self._prefix + self.node, json.dumps(asdict(self._status())), px=int(self._lease_secs * 1000)
                )
            except (RedisError, OSError) as exc:
                log.debug("events.url: node heartbeat not written (%s)", type(exc).__name__)
            await asyncio.sleep(self._beat_secs)

    async def nodes(self) -> list[NodeStatus]:
        """Every process whose lease has not run out, this one included (read fresh when Redis is away)."""
        try:
            keys = [key async for key in self._redis.scan_iter(match=self._prefix + "*", count=500)]
            values = await self._redis.mget(keys) if keys else []
        except (RedisError, OSError):
            return [self._status()]
        found = [NodeStatus(**json.loads(v)) for v in values if v is not None]
        return sorted(found, key=lambda n: n.node)

    async def aclose(self) -> None:
        try:
            await self._redis.delete(self._prefix + self.node)  # a clean exit leaves the view at once
        except (RedisError, OSError):
            pass
        await self._redis.aclose()
