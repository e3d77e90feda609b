"""A client that plays Webex Contact Center's media platform ("Universal Harness") against a BYOVA server.

Written from the wire description in ``shared/specs/webex-byova.md`` (1.2-1.8,
6), not from voicebot's ``.proto`` or code: messages are encoded and decoded
here by field number with a small protobuf wire codec, so a field numbered or
typed wrongly on the server's side fails here. It behaves as the spec's
sources describe Webex:

- one ``ProcessCallerInput`` RPC per turn, all with the same ``conversation_id``,
  each carrying the data source's token in ``authorization`` and a ``trackingid``;
- SESSION_START with the flow's State Event data as ``parameters``, then half-close;
- caller audio: one message declaring MULAW/8000 with no audio, three sample
  bytes, then 160-byte chunks every 20 ms with encoding and rate left at zero,
  until the bot says END_OF_INPUT; then half-close and read to the end;
- START_OF_DTMF in its own RPC, then the digits in another;
- NO_INPUT and SESSION_END as events.
"""

from __future__ import annotations

import asyncio
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc import aio

SERVICE = "/com.cisco.wcc.ccai.media.v1.VoiceVirtualAgent/"
FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
ULAW_SILENCE = b"\xff" * FRAME_BYTES

# Enum values, from the spec's proto listing.
LINEAR16, MULAW = 1, 2
SESSION_START, SESSION_END, NO_INPUT, START_OF_DTMF = 1, 2, 3, 4
OUT_EVENTS = {0: "UNSPECIFIED_EVENT", 1: "SESSION_END", 2: "TRANSFER_TO_AGENT", 3: "CUSTOM_EVENT",
              4: "START_OF_INPUT", 5: "END_OF_INPUT", 6: "NO_MATCH", 7: "NO_INPUT"}  # fmt: skip
INPUT_MODES = {0: "UNSPECIFIED", 1: "INPUT_VOICE", 2: "INPUT_EVENT_DTMF", 3: "INPUT_VOICE_DTMF"}
RESPONSE_TYPES = {0: "FINAL", 1: "PARTIAL", 2: "CHUNK"}
DIGITS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6, "7": 7, "8": 8, "9": 9, "0": 10, "*": 15, "#": 16}


# -- protobuf wire format ------------------------------------------------------


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def bytes_field(number: int, value: bytes | str) -> bytes:
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def packed_field(number: int, values: list[int]) -> bytes:
    return bytes_field(number, b"".join(_varint(v) for v in values)) if values else b""


def parse(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) in order; length-delimited values stay bytes."""
    fields, at = [], 0

    def varint() -> int:
        nonlocal at
        shift = result = 0
        while True:
            byte = data[at]
            at += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    while at < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value: Any = varint()
        elif wire == 1:
            value = data[at : at + 8]
            at += 8
        elif wire == 2:
            length = varint()
            value = data[at : at + length]
            at += length
        elif wire == 5:
            value = data[at : at + 4]
            at += 4
        else:
            raise ValueError(f"wire type {wire} in field {number}")
        fields.append((number, wire, value))
    return fields


def struct_message(values: dict[str, str]) -> bytes:
    """google.protobuf.Struct: map<string, Value> fields = 1; Value.string_value = 3."""
    return b"".join(bytes_field(1, bytes_field(1, k) + bytes_field(2, bytes_field(3, v))) for k, v in values.items())


def decode_value(data: bytes) -> Any:
    for number, _, value in parse(data):
        if number == 1:
            return None
        if number == 2:
            return struct.unpack("<d", value)[0]
        if number == 3:
            return value.decode()
        if number == 4:
            return bool(value)
        if number == 5:
            return decode_struct(value)
        if number == 6:
            return [decode_value(v) for n, _, v in parse(value) if n == 1]
    return None


def decode_struct(data: bytes) -> dict[str, Any]:
    result = {}
    for number, _, entry in parse(data):
        if number == 1:
            parts = {n: v for n, _, v in parse(entry)}
            result[parts.get(1, b"").decode()] = decode_value(parts.get(2, b""))
    return result


# -- messages --------------------------------------------------------------------


def request(conversation_id: str, org_id: str, agent_id: str, *, audio: bytes | None = None, **input_: Any) -> bytes:
    """VoiceVARequest: conversation_id 1, customer_org_id 2, virtual_agent_id 3, then one of 6/7/8."""
    head = bytes_field(1, conversation_id) + bytes_field(2, org_id) + bytes_field(3, agent_id)
    if audio is not None:
        voice = bytes_field(1, audio) if audio else b""
        voice += varint_field(2, input_.get("encoding", 0)) + varint_field(3, input_.get("rate", 0))
        return head + bytes_field(6, voice)
    if "digits" in input_:
        return head + bytes_field(7, packed_field(1, [DIGITS[d] for d in input_["digits"]]))
    event = varint_field(1, input_["event"]) + (bytes_field(2, input_["name"]) if input_.get("name") else b"")
    if input_.get("parameters"):
        event += bytes_field(3, struct_message(input_["parameters"]))
    return head + bytes_field(8, event)


@dataclass
class Prompt:
    text: str = ""
    audio: bytes = b""
    barge_in: bool = False


@dataclass
class OutputEvent:
    type: str
    name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Response:
    prompts: list[Prompt] = field(default_factory=list)
    events: list[OutputEvent] = field(default_factory=list)
    input_mode: str | None = None
    handling: dict[str, dict[int, int]] | None = None  # {"dtmf": {field: value}, "speech": {field: value}}
    transcript: str | None = None
    summary: str | None = None
    type: str = "FINAL"
    at: float = 0.0  # time.monotonic() when it arrived

    @property
    def event_types(self) -> list[str]:
        return [e.type for e in self.events]


def _text_content(data: bytes) -> str:
    return next((v.decode() for n, _, v in parse(data) if n in (1, 2)), "")


def decode_response(data: bytes) -> Response:
    """VoiceVAResponse: prompts 1, output_events 2, input_mode 4, input_handling_config 5, transcript 6,
    summary 7, response_type 8."""
    response = Response(at=time.monotonic())
    for number, _, value in parse(data):
        if number == 1:
            parts = {n: v for n, _, v in parse(value)}
            response.prompts.append(Prompt(parts.get(1, b"").decode(), parts.get(3, b""), bool(parts.get(4, 0))))
        elif number == 2:
            parts = {n: v for n, _, v in parse(value)}
            response.events.append(
                OutputEvent(
                    OUT_EVENTS[parts.get(1, 0)],
                    parts.get(2, b"").decode(),
                    decode_struct(parts[3]) if 3 in parts else {},
                )
            )
        elif number == 4:
            response.input_mode = INPUT_MODES[value]
        elif number == 5:
            handling: dict[str, dict[int, int]] = {}
            for n, _, sub in parse(value):
                handling["dtmf" if n == 1 else "speech"] = {k: v for k, _, v in parse(sub)}
            response.handling = handling
        elif number == 6:
            response.transcript = _text_content(value)
        elif number == 7:
            response.summary = _text_content(value)
        elif number == 8:
            response.type = RESPONSE_TYPES[value]
    return response


def wav_audio(wav: bytes) -> tuple[int, int, int, bytes]:
    """(format code, channels, sample rate, data) of a RIFF WAV file, walking its chunks."""
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE", "not a RIFF WAVE file"
    at, fmt, data = 12, None, None
    while at + 8 <= len(wav):
        name, size = wav[at : at + 4], struct.unpack("<I", wav[at + 4 : at + 8])[0]
        body = wav[at + 8 : at + 8 + size]
        if name == b"fmt ":
            fmt = struct.unpack("<HHI", body[:8])
        elif name == b"data":
            data = body
        at += 8 + size + (size & 1)
    assert fmt is not None and data is not None, "WAV without fmt or data chunk"
    return fmt[0], fmt[1], fmt[2], data


# -- the harness -----------------------------------------------------------------


class WebexHarness:
    def __init__(
        self,
        target: str,
        token: Callable[[], str] | None = None,
        *,
        org_id: str = "2f6e9d4a-0000-4000-8000-00000000cafe",
        agent_id: str = "voicebot",
        conversation_id: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ):
        self.target = target
        self.credentials = credentials
        self.token = token
        self.org_id = org_id
        self.agent_id = agent_id
        self.conversation_id = conversation_id or str(uuid.uuid4())
        self.responses: list[Response] = []

    async def __aenter__(self) -> WebexHarness:
        if self.credentials is None:
            self.channel = aio.insecure_channel(self.target)
        else:
            self.channel = aio.secure_channel(self.target, self.credentials)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.channel.close()

    def _metadata(self) -> tuple[tuple[str, str], ...]:
        tracking = ("trackingid", f"harness_{uuid.uuid4()}")
        return (("authorization", self.token()), tracking) if self.token else (tracking,)

    def _request(self, **kwargs: Any) -> bytes:
        return request(self.conversation_id, self.org_id, self.agent_id, **kwargs)

    async def list_agents(self) -> list[dict[str, Any]]:
        call = self.channel.unary_unary(SERVICE + "ListVirtualAgents")
        reply = await call(bytes_field(1, self.org_id) + varint_field(2, 1), metadata=self._metadata())
        agents = []
        for number, _, value in parse(reply):
            if number == 1:
                parts = {n: v for n, _, v in parse(value)}
                name = parts.get(2, b"").decode()
                agents.append({"id": parts.get(1, b"").decode(), "name": name, "default": bool(parts.get(3))})
        return agents

    async def _rpc(self, messages: list[bytes], timeout: float = 30.0) -> list[Response]:
        """One RPC: send ``messages``, half-close, read every response until the server completes it."""
        call = self.channel.stream_stream(SERVICE + "ProcessCallerInput")(metadata=self._metadata())
        for message in messages:
            await call.write(message)
        await call.done_writing()
        return await self._read_all(call, timeout)

    async def _read_all(self, call: Any, timeout: float) -> list[Response]:
        got = []
        async with asyncio.timeout(timeout):
            while (message := await call.read()) is not aio.EOF:
                got.append(decode_response(message))
        self.responses.extend(got)
        return got

    async def start(self, parameters: dict[str, str] | None = None, name: str = "") -> list[Response]:
        return await self._rpc([self._request(event=SESSION_START, name=name, parameters=parameters or {})])

    async def keys(self, digits: str) -> list[Response]:
        announced = await self._rpc([self._request(event=START_OF_DTMF)])
        assert announced == [], "START_OF_DTMF is only completed"
        return await self._rpc([self._request(digits=digits)])

    async def no_input(self) -> list[Response]:
        return await self._rpc([self._request(event=NO_INPUT)])

    async def hang_up(self) -> list[Response]:
        return await self._rpc([self._request(event=SESSION_END)])

    async def say(self, ulaw: bytes, *, wait_ms: int = 0, max_secs: float = 20.0) -> tuple[list[Response], float]:
        """An audio turn: ``wait_ms`` of line silence, the caller's words, then silence until END_OF_INPUT.

        Returns the RPC's responses and when the caller's last word went out (monotonic).
        """
        call = self.channel.stream_stream(SERVICE + "ProcessCallerInput")(metadata=self._metadata())
        got: list[Response] = []
        end_of_input = asyncio.Event()

        async def read() -> None:
            while (message := await call.read()) is not aio.EOF:
                response = decode_response(message)
                got.append(response)
                if response.prompts or set(response.event_types) - {"START_OF_INPUT"}:
                    end_of_input.set()  # END_OF_INPUT, or an answer: this turn's audio is over
            end_of_input.set()

        reader = asyncio.create_task(read())
        await call.write(self._request(audio=b"", encoding=MULAW, rate=8000))
        await call.write(self._request(audio=b"\x7f\x7f\x7f"))  # the few sample bytes Webex opens with
        audio = ULAW_SILENCE * (wait_ms // 20) + ulaw
        spoke_until = time.monotonic()
        started = time.monotonic()
        sent = 0
        deadline = started + len(audio) / 8000 + max_secs
        while not end_of_input.is_set() and time.monotonic() < deadline:
            chunk = audio[sent : sent + FRAME_BYTES] if sent < len(audio) else ULAW_SILENCE
            await call.write(self._request(audio=chunk.ljust(FRAME_BYTES, b"\xff")))
            sent += FRAME_BYTES
            if sent <= len(audio):
                spoke_until = time.monotonic()
            pause = started + sent / 8000 - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
        await call.done_writing()
        await asyncio.wait_for(reader, max_secs)
        self.responses.extend(got)
        return got, spoke_until
