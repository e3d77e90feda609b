"""The call's websocket transport: pipecat's FastAPI transport, with bot audio kept on a steady clock."""

from __future__ import annotations

import asyncio
import time

from fastapi import WebSocket
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

CATCH_UP_SECS = 0.25  # later than this, the bot had nothing to say: start a new schedule


class SteadyOutput(FastAPIWebsocketOutputTransport):
    """Sends bot audio on the caller's playout clock, making up lateness instead of carrying it forward.

    pipecat restarts its send clock whenever a chunk goes out late, so each late
    wake-up of a busy event loop pushes the rest of the prompt later for good;
    after a few, the phone's jitter buffer (about 60 ms) runs dry mid-word.
    Here a chunk that is late by less than :data:`CATCH_UP_SECS` goes out at once
    and the schedule stands; a longer gap means the bot was quiet, and the next
    audio starts a new schedule.
    """

    async def _write_audio_sleep(self):
        now = time.monotonic()
        if now - self._next_send_time > CATCH_UP_SECS:
            self._next_send_time = now + self._send_interval
            return
        await asyncio.sleep(max(0.0, self._next_send_time - now))
        self._next_send_time += self._send_interval


class CallTransport(FastAPIWebsocketTransport):
    """pipecat's FastAPI websocket transport with a :class:`SteadyOutput`."""

    def __init__(self, websocket: WebSocket, params: FastAPIWebsocketParams):
        super().__init__(websocket, params)
        self._output = SteadyOutput(self, self._client, self._params, name=self._output_name)
