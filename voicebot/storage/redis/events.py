"""Call events shared by every voicebot node through one Redis stream (``events.url = "redis://..."``).

A call runs on one node while an agent's desktop may be connected to another:
each node appends what its calls publish (``XADD``, capped at
:data:`MAX_EVENTS`) and replays what the others appended as it arrives
(``XREAD BLOCK``: no polling). Appends go out one at a time, in the order they
were published: on concurrent connections a transcript would read out of order
and an ended call could show as still talking. A node that starts, or
reconnects, late reads the last :data:`KEEP_SECS` first, so its desktops show
calls already in progress elsewhere. Redis going away never touches a call:
events that cannot be appended are counted in the log and the call goes on; the
follower reconnects and catches up from the last event it saw.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
import uuid
from collections import deque
from typing import Any

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from voicebot.storage.events import CallEvents

log = logging.getLogger(__name__)

STREAM = "voicebot:call-events"
MAX_EVENTS = 20_000
KEEP_SECS = 3600.0
BLOCK_MS = 5000
RETRY_SECS = 1.0


class RedisEventStream:
    def __init__(self, url: str, events: CallEvents, stream: str = STREAM):
        self._redis = aioredis.from_url(url, socket_connect_timeout=2.0, health_check_interval=30)
        self._stream = stream
        self._origin = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._events = events
        self._queue: deque[str] = deque()  # published here, not yet appended
        self._writer: asyncio.Task | None = None
        self._failing = False
        events.forward = self._append

    def _append(self, event: dict[str, Any]) -> None:
        self._queue.append(json.dumps(event, default=str))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())

    async def _write_queued(self) -> None:
        while self._queue:
            try:
                await self._redis.xadd(
                    self._stream,
                    {"origin": self._origin, "event": self._queue.popleft()},
                    maxlen=MAX_EVENTS,
                    approximate=True,
                )
            except (RedisError, OSError) as exc:
                # Redis is away: what is queued behind would each wait for the same timeout. Not shared either.
                lost = 1 + len(self._queue)
                self._queue.clear()
                log.warning(
                    "events.url: %d call event(s) not shared with the other nodes (%s)", lost, type(exc).__name__
                )

    async def follow(self) -> None:
        """Replay the other nodes' events as they come, until cancelled."""
        last = f"{int((time.time() - KEEP_SECS) * 1000)}-0"
        while True:
            try:
                replies = await self._redis.xread({self._stream: last}, block=BLOCK_MS, count=500)
            except (RedisError, OSError) as exc:
                if not self._failing:
                    log.warning("events.url: cannot read the other nodes' events (%s); retrying", type(exc).__name__)
                self._failing = True
                await asyncio.sleep(RETRY_SECS)
                continue
            if self._failing:
                log.info("events.url: reading the other nodes' events again")
                self._failing = False
            for _stream, entries in replies or ():
                for entry_id, fields in entries:
                    last = entry_id
                    if fields.get(b"origin", b"").decode() != self._origin:
                        self._events.replay(json.loads(fields[b"event"]))

    async def aclose(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        await self._redis.aclose()
