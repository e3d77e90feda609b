"""A caller through Webex Contact Center: this side plays Webex's media platform against voicebot's BYOVA service.

It opens the conversation with SESSION_START (the caller's number as State
Event data), keeps an audio RPC open whenever the bot listens (20 ms mu-law
chunks, encoding and rate declared once, then left at zero, as Webex does),
plays the replies (CHUNKs as they arrive, or a FINAL's WAV prompts) on the
caller's playout clock, stops a prompt when the bot says START_OF_INPUT over
it (Webex's barge-in), sends keys as
START_OF_DTMF then the digits, and hangs up with SESSION_END. It reaches a
server that takes local Webex clients (no ``webex.datasource_url``): only
Webex can sign the tokens a registered data source needs.
"""

from __future__ import annotations

import asyncio
import audioop
import io
import time
import uuid
import wave
from dataclasses import dataclass

import grpc
import httpx
from grpc import aio

from voicebot.caller import PhoneCaller, http_base
from voicebot.caller.wires import Outgoing, Wire
from voicebot.telephony.webex.proto import byova_pb2, byova_pb2_grpc

Event = byova_pb2.OutputEvent
DIGITS = {str(n): getattr(byova_pb2, f"DTMF_DIGIT_{name}") for n, name in enumerate(
    ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
)} | {"*": byova_pb2.DTMF_DIGIT_STAR, "#": byova_pb2.DTMF_DIGIT_POUND}  # fmt: skip


class WebexUnreachable(OSError):
    """No BYOVA service where the caller was pointed, or one that will not take a local client."""


@dataclass
class WebexWire(Wire):
    """What the caller's frames become on an audio RPC: mu-law bytes (the RPC wraps them)."""

    platform = "webex"
    path = ""
    echoes_marks = True  # the caller echoes each prompt's end itself, after its duration

    def __post_init__(self) -> None:
        super().__post_init__()
        self.call_id = str(uuid.uuid4())

    def media(self, pcm: bytes, timestamp_ms: int) -> Outgoing:
        return audioop.lin2ulaw(pcm, 2)

    def mark_echo(self, name: str) -> Outgoing | None:
        return None


def _audio_pcm(audio: bytes) -> bytes:
    """16-bit 8 kHz PCM of a prompt's audio: raw mu-law (CHUNK mode), or a WAV file (mu-law format 7, which the
    wave module does not read, or PCM)."""
    if not audio.startswith(b"RIFF"):
        return audioop.ulaw2lin(audio, 2)
    if audio[20:22] == b"\x07\x00":
        at = audio.find(b"data")
        return audioop.ulaw2lin(audio[at + 8 :], 2) if at >= 0 else b""
    with wave.open(io.BytesIO(audio)) as w:
        return w.readframes(w.getnframes())


class WebexCaller(PhoneCaller):
    """A :class:`~voicebot.caller.PhoneCaller` whose line is a BYOVA conversation instead of a websocket."""

    def __init__(self, url: str, caller: str = "+14155552671", dialed: str = "+18005550100"):
        super().__init__(url, WebexWire(caller=caller, dialed=dialed))
        self._base = url
        self.stream_url = url
        self.url = url  # its HTTP root answers /healthz, which names the gRPC port
        self.exit: Event | None = None  # the terminal event the bot ended the conversation with
        self._channel: aio.Channel | None = None
        self._agent: byova_pb2_grpc.VoiceVirtualAgentStub | None = None
        self._audio: aio.StreamStreamCall | None = None  # the open audio RPC, while the bot listens
        self._keys = asyncio.Lock()  # a key press and the opening of an audio RPC, one at a time
        self._writing = asyncio.Lock()  # gRPC takes one pending write (or half-close) per RPC, never two
        self._dtmf: asyncio.Task | None = None  # hearing the answer to the last key
        self._prompts = 0
        self._unmarked = False  # audio played since the last reply's end

    async def _target(self) -> str:
        if self._base.startswith("grpc://"):
            return self._base.removeprefix("grpc://").rstrip("/")
        root = http_base(self._base) if self._base.startswith("ws") else self._base.rstrip("/")
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                health = (await client.get(root + "/healthz")).json()
        except (httpx.HTTPError, ValueError) as exc:
            raise WebexUnreachable(f"no voicebot at {root}: {exc}") from None
        port = health.get("webex_grpc_port")
        if not port:
            raise WebexUnreachable(f"{root} does not serve Webex: set webex.grpc_port on the server")
        return f"{root.split('://', 1)[1].rsplit(':', 1)[0]}:{port}"

    def _request(self, **fields) -> byova_pb2.VoiceVARequest:
        return byova_pb2.VoiceVARequest(
            conversation_id=self.call_sid, customer_org_id="voicebot-caller", virtual_agent_id="voicebot", **fields
        )

    async def __aenter__(self) -> WebexCaller:
        target = await self._target()
        self.stream_url = f"grpc://{target}"
        self._channel = aio.insecure_channel(target)
        self._agent = byova_pb2_grpc.VoiceVirtualAgentStub(self._channel)
        try:
            await self._agent.ListVirtualAgents(byova_pb2.ListVARequest(customer_org_id="voicebot-caller"), timeout=10)
        except aio.AioRpcError as exc:
            await self._channel.close()
            if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
                why = "takes only Webex's signed tokens (webex.datasource_url is set)"
                raise WebexUnreachable(f"{target} {why}") from None
            raise WebexUnreachable(f"no BYOVA service at {target}: {exc.details()}") from None
        self.started_at = time.perf_counter()
        self._tasks = [asyncio.create_task(self._sender()), asyncio.create_task(self._turns())]
        return self

    async def __aexit__(self, *exc) -> None:
        for task in self._tasks + self._pending_marks + ([self._dtmf] if self._dtmf else []):
            task.cancel()
        if self._channel is not None:
            await self._channel.close()

    # -- caller -> bot -----------------------------------------------------------

    async def _send(self, message: str | bytes | None) -> None:
        """A caller frame goes on the open audio RPC; while none is open the line carries nothing to the bot."""
        if not isinstance(message, bytes):
            return
        async with self._writing:
            call = self._audio
            if call is None:
                return
            try:
                await call.write(self._request(audio_input=byova_pb2.VoiceInput(caller_audio=message)))
            except (aio.AioRpcError, asyncio.InvalidStateError):
                if self._audio is call:
                    self._audio = None

    async def _stop_streaming(self, call: aio.StreamStreamCall) -> None:
        """This turn's audio ends: no frame goes on ``call`` after its half-close."""
        async with self._writing:
            if self._audio is call:
                self._audio = None
            await call.done_writing()

    async def press(self, digit: str) -> None:
        """START_OF_DTMF in an RPC of its own, then the digit in another; returns once sent, the reply comes later."""
        if digit not in DIGITS or self._agent is None:
            return
        async with self._keys:
            if self._audio is not None:
                await self._stop_streaming(self._audio)  # the key RPC takes this turn's place
            announce = byova_pb2.EventInput(event_type=byova_pb2.EventInput.START_OF_DTMF)
            await self._rpc([self._request(event_input=announce)])
            call = self._agent.ProcessCallerInput()
            await call.write(self._request(dtmf_input=byova_pb2.DTMFInputs(dtmf_events=[DIGITS[digit]])))
            await call.done_writing()
            self._dtmf = asyncio.create_task(self._hear(call))

    async def hang_up(self) -> None:
        if self._agent is not None and not self.closed.is_set():
            self.closed.set()
            audio, self._audio = self._audio, None
            if audio is not None:
                audio.cancel()
            end = byova_pb2.EventInput(event_type=byova_pb2.EventInput.SESSION_END)
            try:
                await self._rpc([self._request(event_input=end)], hearing=False)
            except aio.AioRpcError:
                pass

    # -- the conversation ----------------------------------------------------------

    async def _turns(self) -> None:
        """SESSION_START, then an audio RPC whenever the bot listens, until it ends the conversation."""
        try:
            start = byova_pb2.EventInput(event_type=byova_pb2.EventInput.SESSION_START)
            start.parameters.update({"ani": self.caller, "dnis": self.wire.dialed})
            await self._rpc([self._request(event_input=start)])
            while not self.closed.is_set():
                if self._dtmf is not None:
                    await self._dtmf  # the bot answers a key on its own RPC; listening resumes after it
                async with self._keys:
                    if self._dtmf is not None and not self._dtmf.done():
                        continue  # another key came meanwhile
                    call = self._agent.ProcessCallerInput() if self._agent else None
                    if call is None:
                        return
                    declared = byova_pb2.VoiceInput(encoding=byova_pb2.VoiceInput.MULAW_FORMAT, sample_rate_hertz=8000)
                    async with self._writing:  # the declaration first; the caller's frames follow it
                        await call.write(self._request(audio_input=declared))
                        self._audio = call
                await self._hear(call)
        except aio.AioRpcError as exc:
            if exc.code() is grpc.StatusCode.UNAUTHENTICATED:
                self.close_code = 1008
            elif not self.closed.is_set():
                self.close_code = 1011
        finally:
            self.closed.set()

    async def _rpc(self, requests: list[byova_pb2.VoiceVARequest], hearing: bool = True) -> None:
        assert self._agent is not None
        call = self._agent.ProcessCallerInput()
        for request in requests:
            await call.write(request)
        await call.done_writing()
        if hearing:
            await self._hear(call)
        else:
            async for _ in call:
                pass

    async def _hear(self, call: aio.StreamStreamCall) -> None:
        async for response in call:
            kinds = [e.event_type for e in response.output_events]
            if Event.START_OF_INPUT in kinds:
                self._barge_in()
            streaming = self._audio is not None and self._audio == call
            if Event.END_OF_INPUT in kinds and streaming:
                await self._stop_streaming(call)  # Webex stops streaming this turn's audio
            if response.prompts:  # a CHUNK plays as it arrives; WAV prompts come whole in the FINAL
                self._play(b"".join(_audio_pcm(p.audio_content) for p in response.prompts))
                self._unmarked = True
            if response.response_type == byova_pb2.VoiceVAResponse.FINAL and self._unmarked:
                self._unmarked = False
                self._prompts += 1
                self._schedule_mark(f"prompt-{self._prompts}")
            ending = (Event.SESSION_END, Event.TRANSFER_TO_AGENT)
            terminal = [e for e in response.output_events if e.event_type in ending]
            if terminal:
                self.exit = terminal[0]
                await asyncio.sleep(max(0.0, self._play_end - time.perf_counter()))
                self.closed.set()
        if self._audio is call:
            self._audio = None

    def _barge_in(self) -> None:
        """Webex stops a prompt the caller talks over (every listening prompt allows barge-in)."""
        if self._play_end > time.perf_counter():
            self._clear()
