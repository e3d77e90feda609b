"""A client that behaves like Genesys Cloud's AudioConnector (AudioHook v2, client side).

It opens the session with the caller's ANI, streams PCMU in 20 ms binary frames
paced in real time, numbers its messages, answers the bot's ``disconnect`` with
``close`` and expects ``closed``.
"""

from __future__ import annotations

import asyncio
import audioop
import json
import time
import uuid

import websockets

FRAME_BYTES = 160
SILENCE = b"\xff" * FRAME_BYTES


class GenesysClient:
    def __init__(self, url: str, ani: str, api_key: str | None = None):
        self.url = url
        self.ani = ani
        self.api_key = api_key
        self.session_id = str(uuid.uuid4())
        self.conversation_id = str(uuid.uuid4())
        self.seq = 0
        self.messages: list[dict] = []  # control messages from the bot
        self.bot_audio = bytearray()  # 16-bit 8 kHz
        self.last_audio_at = 0.0
        self.closed = asyncio.Event()
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._started = time.monotonic()

    def open_message(self, **overrides) -> dict:
        message = {
            "version": "2",
            "type": "open",
            "seq": 1,
            "serverseq": 0,
            "id": self.session_id,
            "position": "PT0S",
            "parameters": {
                "organizationId": str(uuid.uuid4()),
                "conversationId": self.conversation_id,
                "participant": {"id": str(uuid.uuid4()), "ani": self.ani, "aniName": "", "dnis": "+18005550100"},
                "media": [{"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}],
                "language": "en-US",
                "inputVariables": {},
            },
        }
        message.update(overrides)
        return message

    async def __aenter__(self) -> GenesysClient:
        headers = {"X-API-KEY": self.api_key} if self.api_key else {}
        self.ws = await websockets.connect(self.url, additional_headers=headers, max_size=2**22)
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks:
            task.cancel()
        await self.ws.close()

    async def open(self, **overrides) -> dict:
        self.seq = 1
        await self.ws.send(json.dumps(self.open_message(**overrides)))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
        self.messages.append(reply)
        if reply["type"] == "opened":
            self._tasks = [asyncio.create_task(self._send_audio()), asyncio.create_task(self._receive())]
        return reply

    async def send(self, type_: str, parameters: dict | None = None, seq: int | None = None) -> None:
        self.seq = self.seq + 1 if seq is None else seq
        position = f"PT{time.monotonic() - self._started:.2f}S"
        await self.ws.send(
            json.dumps(
                {
                    "version": "2",
                    "type": type_,
                    "seq": self.seq,
                    "serverseq": self._serverseq(),
                    "id": self.session_id,
                    "position": position,
                    "parameters": parameters or {},
                }
            )
        )

    def _serverseq(self) -> int:
        return max((m.get("seq", 0) for m in self.messages), default=0)

    async def say(self, pcm16: bytes) -> None:
        ulaw = audioop.lin2ulaw(pcm16, 2)
        ulaw += b"\xff" * (-len(ulaw) % FRAME_BYTES)
        for i in range(0, len(ulaw), FRAME_BYTES):
            self._outgoing.put_nowait(ulaw[i : i + FRAME_BYTES])
        while not self._outgoing.empty():
            await asyncio.sleep(0.02)

    async def _send_audio(self) -> None:
        next_at = time.monotonic()
        try:
            while True:
                frame = SILENCE if self._outgoing.empty() else self._outgoing.get_nowait()
                await self.ws.send(frame)
                next_at += 0.02
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        except websockets.ConnectionClosed:
            pass

    async def _receive(self) -> None:
        try:
            async for data in self.ws:
                if isinstance(data, bytes):
                    pcm = audioop.ulaw2lin(data, 2)
                    self.bot_audio += pcm
                    if audioop.rms(pcm, 2) > 100:  # speech, not line silence
                        self.last_audio_at = time.monotonic()
                    continue
                message = json.loads(data)
                self.messages.append(message)
                if message["type"] == "disconnect":
                    await self.send("close", {"reason": "disconnect"})
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def of_type(self, type_: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == type_]

    async def wait_for(self, type_: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while not (found := self.of_type(type_)):
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no {type_!r} from the bot; got {[m['type'] for m in self.messages]}")
            await asyncio.sleep(0.05)
        return found[-1]

    async def wait_for_quiet(self, after_secs: float = 1.0, timeout: float = 30.0) -> None:
        """Wait until the bot has spoken and then sent no audio for ``after_secs``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            heard_speech = self.last_audio_at > 0
            if heard_speech and time.monotonic() - self.last_audio_at > after_secs:
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("the bot did not finish speaking")
