"""A client that calls voicebot the way Twilio does: a Media Streams websocket.

It paces 20 ms mu-law frames in real time (silence when the caller is quiet),
plays the bot's audio on a simulated playout clock, echoes each mark once the
audio before it has "played", and honours ``clear``. Tests use it to hold real
conversations with the server; ``python -m voicebot.caller`` places a call from
a WAV file.
"""

from __future__ import annotations

import argparse
import asyncio
import audioop
import base64
import json
import time
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
import websockets

RATE = 8000
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_SECS = 0.02
SILENCE_ULAW = b"\xff" * FRAME_BYTES


@dataclass
class BotUtterance:
    """Bot audio between two marks: one prompt as the caller heard it."""

    pcm: bytearray = field(default_factory=bytearray)  # 16-bit 8 kHz
    first_audio_at: float | None = None  # perf_counter when its first non-silent frame arrived
    mark: str | None = None
    cleared: bool = False


class TwilioCaller:
    def __init__(
        self, url: str, caller: str = "+14155552671", dialed: str = "+18005550100", call_sid: str | None = None
    ):
        self.url = url
        self.caller = caller
        self.dialed = dialed
        self.call_sid = call_sid or "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self.utterances: list[BotUtterance] = [BotUtterance()]
        self.marks_echoed: list[str] = []
        self.clears = 0
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ws = None
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._seq = 0
        self._chunk = 0
        self._play_end = 0.0
        self._pending_marks: list[asyncio.Task] = []
        self._tasks: list[asyncio.Task] = []
        self.speech_ended_at: float | None = None

    # -- connection --------------------------------------------------------------

    async def __aenter__(self) -> TwilioCaller:
        self._ws = await websockets.connect(self.url, max_size=2**22)
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "streamSid": self.stream_sid,
                "start": {
                    "accountSid": "AC" + "0" * 32,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "customParameters": {"from": self.caller, "to": self.dialed},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1},
                },
            }
        )
        self.started_at = time.perf_counter()
        self._tasks = [asyncio.create_task(self._sender()), asyncio.create_task(self._receiver())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks + self._pending_marks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def _send(self, message: dict) -> None:
        self._seq += 1
        await self._ws.send(json.dumps({"sequenceNumber": str(self._seq), **message}))

    # -- caller -> bot -----------------------------------------------------------

    async def _sender(self) -> None:
        next_at = time.perf_counter()
        try:
            while not self.closed.is_set():
                try:
                    frame = self._outgoing.get_nowait()
                except asyncio.QueueEmpty:
                    frame = SILENCE_ULAW
                self._chunk += 1
                await self._send(
                    {
                        "event": "media",
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(self._chunk),
                            "timestamp": str(int((time.perf_counter() - self.started_at) * 1000)),
                            "payload": base64.b64encode(frame).decode(),
                        },
                    }
                )
                if frame is not SILENCE_ULAW and self._outgoing.empty():
                    self.speech_ended_at = time.perf_counter() + FRAME_SECS
                next_at += FRAME_SECS
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        except websockets.ConnectionClosed:
            self.closed.set()

    async def say(self, pcm16: bytes, wait: bool = True) -> None:
        """Queue 16-bit 8 kHz speech; with ``wait``, return once its last frame is sent."""
        ulaw = audioop.lin2ulaw(pcm16, 2)
        ulaw += b"\xff" * (-len(ulaw) % FRAME_BYTES)
        for i in range(0, len(ulaw), FRAME_BYTES):
            self._outgoing.put_nowait(ulaw[i : i + FRAME_BYTES])
        if wait:
            while not self._outgoing.empty() and not self.closed.is_set():
                await asyncio.sleep(FRAME_SECS)
            await asyncio.sleep(FRAME_SECS)

    async def press(self, digit: str) -> None:
        await self._send(
            {"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}
        )

    async def hang_up(self) -> None:
        await self._send(
            {
                "event": "stop",
                "streamSid": self.stream_sid,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_sid},
            }
        )
        await self._ws.close()
        self.closed.set()

    # -- bot -> caller -----------------------------------------------------------

    async def _receiver(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    self._play(base64.b64decode(message["media"]["payload"]))
                elif event == "mark":
                    self._schedule_mark(message["mark"]["name"])
                elif event == "clear":
                    self._clear()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._ws.close_code
            self.closed.set()

    def _play(self, ulaw: bytes) -> None:
        now = time.perf_counter()
        pcm = audioop.ulaw2lin(ulaw, 2)
        current = self.utterances[-1]
        if current.first_audio_at is None and audioop.rms(pcm, 2) > 100:
            current.first_audio_at = now
        current.pcm += pcm
        self._play_end = max(self._play_end, now) + len(ulaw) / RATE

    def _schedule_mark(self, name: str) -> None:
        self.utterances[-1].mark = name
        self.utterances.append(BotUtterance())
        delay = max(0.0, self._play_end - time.perf_counter())
        self._pending_marks.append(asyncio.create_task(self._echo_mark(name, delay)))

    async def _echo_mark(self, name: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if not self.closed.is_set():
            self.marks_echoed.append(name)
            try:
                await self._send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
            except websockets.ConnectionClosed:
                pass

    def _clear(self) -> None:
        self.clears += 1
        self._play_end = time.perf_counter()
        self.utterances[-1].cleared = True
        for task in self._pending_marks:
            if not task.done():
                task.cancel()
        # Twilio echoes every pending mark at once when its buffer is cleared.
        names = [u.mark for u in self.utterances if u.mark and u.mark not in self.marks_echoed]
        self._pending_marks = [asyncio.create_task(self._echo_mark(n, 0)) for n in names]

    # -- waiting -----------------------------------------------------------------

    @property
    def prompts(self) -> list[BotUtterance]:
        return [u for u in self.utterances if u.pcm and u.mark]

    async def wait_for_prompts(self, count: int, timeout: float = 30.0) -> list[BotUtterance]:
        """Wait until ``count`` bot prompts have been received and heard (marks echoed)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            heard = [u for u in self.prompts if u.mark in self.marks_echoed]
            if len(heard) >= count:
                return heard
            if self.closed.is_set() and len(self.prompts) < count:
                break
            await asyncio.sleep(0.05)
        raise TimeoutError(f"heard {len(self.prompts)} bot prompts, wanted {count}")

    async def wait_closed(self, timeout: float = 30.0) -> None:
        await asyncio.wait_for(self.closed.wait(), timeout)


def read_wav_8k(path: Path) -> bytes:
    """Any mono/stereo 16-bit WAV, as 16-bit 8 kHz mono PCM."""
    with wave.open(str(path), "rb") as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if w.getnchannels() > 1:
            audio = audio.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
        if w.getframerate() != RATE:
            audio = soxr.resample(audio, w.getframerate(), RATE).astype(np.int16)
    return audio.tobytes()


async def _main(args: argparse.Namespace) -> None:
    async with TwilioCaller(args.url, caller=args.ani) as call:
        await call.wait_for_prompts(1, timeout=15)
        print(f"bot greeted after {call.prompts[0].first_audio_at - call.started_at:.2f}s")
        if args.play:
            await call.say(read_wav_8k(Path(args.play)))
        for digit in args.dtmf or "":
            await call.press(digit)
        try:
            await call.wait_closed(timeout=args.timeout)
        except TimeoutError:
            await call.hang_up()
        print(f"bot prompts: {len(call.prompts)}; call closed (code {call.close_code}); call sid {call.call_sid}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Call voicebot like Twilio Media Streams would.")
    parser.add_argument("--url", default="ws://127.0.0.1:8080/twilio/media")
    parser.add_argument("--ani", default="+14155552671", help="caller number (demo: Jane Doe)")
    parser.add_argument("--play", help="WAV file to say after the greeting")
    parser.add_argument("--dtmf", help="digits to press after the greeting (e.g. 2)")
    parser.add_argument("--timeout", type=float, default=30.0)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
