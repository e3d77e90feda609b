"""A client that calls voicebot the way a phone platform does, over the platform's media stream.

It paces 20 ms frames in real time (silence when the caller is quiet), plays
the bot's audio on a simulated playout clock, echoes each mark once the audio
before it has "played", and honours ``clear``. What goes on the wire is the
:class:`~voicebot.caller.wires.Wire`'s business (Twilio, Telnyx, Plivo, Exotel,
Vonage). Tests hold real conversations with the server through it;
``python -m voicebot.caller`` places a call from a WAV file.
"""

from __future__ import annotations

import asyncio
import audioop
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
import websockets
from websockets.asyncio.client import ClientConnection

from voicebot.caller.wires import WIRES, BotAudio, BotClear, BotMark, TwilioWire, Wire

RATE = 8000
FRAME_BYTES = 320  # 20 ms of 16-bit 8 kHz PCM
FRAME_SECS = 0.02
SILENCE = b"\x00" * FRAME_BYTES
PROMPT_GAP_SECS = 0.8  # for platforms without marks: this long without bot speech ends a prompt
JITTER_BUFFER_SECS = 0.06  # a phone network's playout delay; audio later than that is an underrun


@dataclass
class BotUtterance:
    """Bot audio between two marks: one prompt as the caller heard it."""

    pcm: bytearray = field(default_factory=bytearray)  # 16-bit 8 kHz
    first_audio_at: float | None = None  # perf_counter when its first non-silent frame arrived
    mark: str | None = None
    cleared: bool = False
    underruns: int = 0  # times the caller's playout ran dry mid-prompt
    underrun_secs: float = 0.0  # silence those gaps put into the prompt
    _due: float | None = None  # when the next chunk must arrive to play without a gap

    def arrived(self, now: float, seconds: float) -> None:
        """Account a chunk of ``seconds`` of audio arriving at ``now`` against the playout clock."""
        if self._due is None:
            self._due = now + JITTER_BUFFER_SECS
        elif now > self._due:
            self.underruns += 1
            self.underrun_secs += now - self._due
            self._due = now  # the player waits for it, then carries on
        self._due += seconds


class PhoneCaller:
    """One call, placed on ``url`` (the server's base ws:// URL or the full stream URL) over ``wire``."""

    def __init__(self, url: str, wire: Wire):
        self.wire = wire
        self.stream_url = url if url.rstrip("/").endswith(wire.path) else url.rstrip("/") + wire.path
        self.url = self.stream_url + wire.url_query  # may carry a token: print stream_url
        self.utterances: list[BotUtterance] = [BotUtterance()]
        self.marks_echoed: list[str] = []
        self.clears = 0
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ws: ClientConnection | None = None
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._play_end = 0.0
        self._pending_marks: list[asyncio.Task] = []
        self._tasks: list[asyncio.Task] = []
        self._last_audio_at = 0.0
        self._playout = bytearray()  # bot audio not yet "played" to the caller
        self.listeners: list[Callable[[bytes, bytes], None]] = []  # (caller frame, bot frame), every 20 ms
        self.idle: Callable[[], bytes] = lambda: SILENCE  # what the line carries while the caller is quiet
        self.prompts_end_on_pause = not wire.echoes_marks  # no marks to end prompts (or a server that sends none)
        self.speech_ended_at: float | None = None  # when the last loud frame of the latest say() was sent
        self._queued = 0  # frames ever queued by say()/feed()
        self._sent = 0  # of those, frames sent
        self._speech_end_frame = 0

    @property
    def call_sid(self) -> str:
        return self.wire.call_id

    @property
    def caller(self) -> str:
        return self.wire.caller

    # -- connection --------------------------------------------------------------

    @property
    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError("the call has not been placed")
        return self._ws

    async def __aenter__(self) -> PhoneCaller:
        self._ws = await websockets.connect(self.url, max_size=2**22)
        for message in self.wire.opening():
            await self._connection.send(message)
        self.started_at = time.perf_counter()
        self._tasks = [asyncio.create_task(self._sender()), asyncio.create_task(self._receiver())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks + self._pending_marks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()

    async def _send(self, message: str | bytes | None) -> None:
        if message is not None:
            await self._connection.send(message)

    # -- caller -> bot -----------------------------------------------------------

    async def _sender(self) -> None:
        next_at = time.perf_counter()
        try:
            while not self.closed.is_set():
                try:
                    frame = self._outgoing.get_nowait()
                    self._sent += 1
                except asyncio.QueueEmpty:
                    frame = self.idle()
                timestamp_ms = int((time.perf_counter() - self.started_at) * 1000)
                await self._send(self.wire.media(frame, timestamp_ms))
                if self._sent == self._speech_end_frame:
                    self.speech_ended_at = time.perf_counter()
                    self._speech_end_frame = 0
                if self.listeners:
                    heard = bytes(self._playout[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\x00")
                    del self._playout[:FRAME_BYTES]
                    for listener in self.listeners:
                        listener(frame, heard)
                if self.prompts_end_on_pause:
                    self._end_prompt_after_a_pause()
                next_at += FRAME_SECS
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        except websockets.ConnectionClosed:
            self.closed.set()

    async def say(self, pcm16: bytes, wait: bool = True, speech_samples: int | None = None) -> None:
        """Queue 16-bit 8 kHz speech; with ``wait``, return once its last frame is sent.

        :attr:`speech_ended_at` becomes the moment the last frame holding speech
        went out: the end of speech is read from the audio (``speech_samples``
        when the caller knows better, e.g. speech mixed with line noise), not
        from the end of the buffer.
        """
        if speech_samples is None:
            speech_samples = loud_samples(pcm16)
        pcm16 += b"\x00" * (-len(pcm16) % FRAME_BYTES)
        self.speech_ended_at = None
        self._speech_end_frame = self._queued + max(1, -(-speech_samples * 2 // FRAME_BYTES))
        for i in range(0, len(pcm16), FRAME_BYTES):
            self._outgoing.put_nowait(pcm16[i : i + FRAME_BYTES])
            self._queued += 1
        if wait:
            while not self._outgoing.empty() and not self.closed.is_set():
                await asyncio.sleep(FRAME_SECS)
            await asyncio.sleep(FRAME_SECS)

    def feed(self, frame: bytes) -> None:
        """One live 20 ms frame (e.g. from a microphone), sent in turn with the pacing."""
        self._outgoing.put_nowait(frame)
        self._queued += 1

    async def press(self, digit: str) -> None:
        await self._send(self.wire.dtmf(digit))

    async def hang_up(self) -> None:
        await self._send(self.wire.stop())
        await self._connection.close()
        self.closed.set()

    # -- bot -> caller -----------------------------------------------------------

    async def _receiver(self) -> None:
        try:
            async for raw in self._connection:
                message = self.wire.parse(raw)
                if isinstance(message, BotAudio):
                    self._play(message.pcm)
                elif isinstance(message, BotMark):
                    self._schedule_mark(message.name)
                elif isinstance(message, BotClear):
                    self._clear()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self._connection.close_code
            self.closed.set()

    def _play(self, pcm: bytes) -> None:
        now = time.perf_counter()
        current = self.utterances[-1]
        loud = audioop.rms(pcm, 2) > 100
        if loud:
            self._last_audio_at = now
            current = self.utterances[-1]
            if current.first_audio_at is None:
                current.first_audio_at = now
        current.pcm += pcm
        current.arrived(now, len(pcm) / (2 * RATE))
        if self.listeners:
            self._playout += pcm
        self._play_end = max(self._play_end, now) + len(pcm) / (2 * RATE)

    def _end_prompt_after_a_pause(self) -> None:
        """No marks on this platform: a pause in the bot's audio ends a prompt (it sends nothing while quiet)."""
        current = self.utterances[-1]
        if (
            current.first_audio_at
            and current.mark is None
            and time.perf_counter() - self._last_audio_at > PROMPT_GAP_SECS
        ):
            self._split_prompt()

    def _split_prompt(self) -> None:
        name = f"gap-{len(self.utterances)}"
        self.utterances[-1].mark = name
        self.marks_echoed.append(name)
        self.utterances.append(BotUtterance())

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
                await self._send(self.wire.mark_echo(name))
            except websockets.ConnectionClosed:
                pass

    def _clear(self) -> None:
        self.clears += 1
        self._play_end = time.perf_counter()
        self._playout.clear()
        if self.utterances[-1].pcm:
            # What was cut off is one prompt; what the bot says next is another.
            self.utterances[-1].cleared = True
            self.utterances.append(BotUtterance())
        for task in self._pending_marks:
            if not task.done():
                task.cancel()
        # The platform echoes every pending mark at once when its buffer is cleared.
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


def TwilioCaller(
    url: str,
    caller: str = "+14155552671",
    dialed: str = "+18005550100",
    call_sid: str | None = None,
    token: str = "",
):
    """A caller on Twilio Media Streams (the default platform)."""
    wire = TwilioWire(caller=caller, dialed=dialed, token=token)
    if call_sid:
        wire.call_id = call_sid
    return PhoneCaller(url, wire)


PLATFORMS = sorted([*WIRES, "webex"])  # what a caller can call over


def caller_for(
    platform: str, url: str, caller: str = "+14155552671", dialed: str = "+18005550100", token: str = ""
) -> PhoneCaller:
    """A caller on ``platform``; a Webex caller finds the server's gRPC port from ``url``'s ``/healthz``."""
    if platform == "webex":
        from voicebot.caller.webex import WebexCaller

        return WebexCaller(url, caller, dialed)
    return PhoneCaller(url, WIRES[platform](caller=caller, dialed=dialed, token=token))


def http_base(ws_url: str) -> str:
    """The server's HTTP root for a ws:// or wss:// URL (any path dropped)."""
    root = "/".join(ws_url.split("/", 3)[:3])
    return "https://" + root[6:] if root.startswith("wss://") else "http://" + root.removeprefix("ws://")


def loud_samples(pcm16: bytes, threshold: int = 300) -> int:
    """How many samples of ``pcm16`` run up to the end of its last loud sample (0 if all quiet)."""
    loud = np.flatnonzero(np.abs(np.frombuffer(pcm16, dtype=np.int16)) > threshold)
    return int(loud[-1]) + 1 if loud.size else 0


def read_wav_8k(path: Path) -> bytes:
    """Any mono/stereo 16-bit WAV, as 16-bit 8 kHz mono PCM."""
    with wave.open(str(path), "rb") as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        if w.getnchannels() > 1:
            audio = audio.reshape(-1, w.getnchannels()).mean(axis=1).astype(np.int16)
        if w.getframerate() != RATE:
            audio = soxr.resample(audio, w.getframerate(), RATE).astype(np.int16)
    return audio.tobytes()
