"""A client that behaves like ACS's bidirectional media streaming, connecting to the bot's ``transportUrl``.

Written from ``shared/specs/acs-call-automation.md`` 3: the upgrade carries
``x-ms-call-correlation-id``, ``x-ms-call-connection-id`` and ``Authorization:
Bearer <JWT>``; the first frame is ``AudioMetadata``; then ``AudioData`` every
20 ms (640 bytes of 16 kHz PCM, base64, with ``timestamp``, ``participantRawID``
and ``silent``) and ``DtmfData`` for keys. From the bot it accepts ``AudioData``
and ``StopAudio`` in any of the casings Microsoft's samples use, and treats
``StopAudio`` as "drop what is queued".
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime

import websockets

FRAME_BYTES = 640  # 20 ms at 16 kHz
SILENCE = b"\x00" * FRAME_BYTES


def _folded(value):
    return {k.lower(): _folded(v) for k, v in value.items()} if isinstance(value, dict) else value


class AcsMediaClient:
    def __init__(self, url: str, token: str | None, correlation_id: str, connection_id: str, caller: str):
        self.url = url
        self.token = token
        self.correlation_id = correlation_id
        self.connection_id = connection_id
        self.participant = f"4:{caller}"
        self.bot_audio = bytearray()  # 16-bit 16 kHz, as it arrived
        self.last_audio_at = 0.0
        self.stops = 0
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def __aenter__(self) -> AcsMediaClient:
        headers = {"x-ms-call-correlation-id": self.correlation_id, "x-ms-call-connection-id": self.connection_id}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self.ws = await websockets.connect(self.url, additional_headers=headers, max_size=2**22)
        metadata = {"subscriptionId": str(uuid.uuid4()), "encoding": "PCM", "sampleRate": 16000, "channels": 1,
                    "length": FRAME_BYTES}  # fmt: skip
        await self.ws.send(json.dumps({"kind": "AudioMetadata", "audioMetadata": metadata}))
        self._tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        await self.ws.close()

    async def _send(self) -> None:
        next_at = time.monotonic()
        try:
            while True:
                try:
                    frame, silent = self._outgoing.get_nowait(), False
                except asyncio.QueueEmpty:
                    frame, silent = SILENCE, True
                stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                audio = {"timestamp": stamp, "participantRawID": self.participant,
                         "data": base64.b64encode(frame).decode(), "silent": silent}  # fmt: skip
                await self.ws.send(json.dumps({"kind": "AudioData", "audioData": audio}))
                next_at += 0.02
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        except websockets.ConnectionClosed:
            self.closed.set()

    async def _receive(self) -> None:
        try:
            async for raw in self.ws:
                message = _folded(json.loads(raw))
                kind = str(message.get("kind", "")).lower()
                if kind == "audiodata":
                    self.bot_audio += base64.b64decode(message["audiodata"]["data"])
                    self.last_audio_at = time.monotonic()
                elif kind == "stopaudio":
                    self.stops += 1
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    async def say(self, pcm16k: bytes) -> None:
        """Queue speech (16-bit 16 kHz) and return once it has all been sent."""
        pcm16k += b"\x00" * (-len(pcm16k) % FRAME_BYTES)
        for at in range(0, len(pcm16k), FRAME_BYTES):
            self._outgoing.put_nowait(pcm16k[at : at + FRAME_BYTES])
        while not self._outgoing.empty() and not self.closed.is_set():
            await asyncio.sleep(0.02)

    async def press(self, digit: str) -> None:
        await self.ws.send(json.dumps({"kind": "DtmfData", "dtmfData": {"data": digit}}))

    async def wait_for_quiet(self, quiet: float = 1.2, timeout: float = 30.0) -> None:
        """Until the bot has sent audio and then nothing for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.bot_audio and time.monotonic() - self.last_audio_at > quiet:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the bot never went quiet")
