"""What each platform puts on the media-stream websocket, seen from the phone network's side.

A :class:`Wire` turns the caller's 20 ms frames (16-bit 8 kHz PCM), digits and
hang-up into the platform's messages, and the bot's messages back into audio,
marks and ``clear``. The message shapes follow each platform's published
protocol (see ``../shared/specs/telephony.md`` and the README's platform table).
"""

from __future__ import annotations

import audioop
import base64
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import numpy as np
import soxr

RATE = 8000


@dataclass(frozen=True, slots=True)
class BotAudio:
    pcm: bytes  # 16-bit 8 kHz


@dataclass(frozen=True, slots=True)
class BotMark:
    name: str


@dataclass(frozen=True, slots=True)
class BotClear:
    pass


BotMessage = BotAudio | BotMark | BotClear
Outgoing = str | bytes


@dataclass
class Wire:
    """Twilio Media Streams; the other platforms override what differs."""

    caller: str = "+14155552671"
    dialed: str = "+18005550100"
    call_id: str = field(default_factory=lambda: "CA" + uuid.uuid4().hex)
    stream_id: str = field(default_factory=lambda: "MZ" + uuid.uuid4().hex)
    token: str = ""  # the server's media token for this call, or its access.media_secret
    path = "/twilio/media"
    platform = "twilio"
    echoes_marks = True
    token_in_url = False  # Twilio's stream URL takes no query: the token is a <Parameter>

    @property
    def url_query(self) -> str:
        return f"?token={quote(self.token)}" if self.token and self.token_in_url else ""

    def __post_init__(self) -> None:
        self._seq = 0
        self._chunk = 0

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def opening(self) -> list[Outgoing]:
        return [
            self._json({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            self._json(
                {
                    "event": "start",
                    "streamSid": self.stream_id,
                    "start": {
                        "accountSid": "AC" + "0" * 32,
                        "streamSid": self.stream_id,
                        "callSid": self.call_id,
                        "tracks": ["inbound"],
                        "customParameters": {
                            "from": self.caller,
                            "to": self.dialed,
                            **({"token": self.token} if self.token else {}),
                        },
                        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1},
                    },
                }
            ),
        ]

    def _json(self, message: dict[str, Any]) -> str:
        return json.dumps({"sequenceNumber": str(self._next_seq()), **message})

    def media(self, pcm: bytes, timestamp_ms: int) -> Outgoing:
        self._chunk += 1
        return self._json(
            {
                "event": "media",
                "streamSid": self.stream_id,
                "media": {
                    "track": "inbound",
                    "chunk": str(self._chunk),
                    "timestamp": str(timestamp_ms),
                    "payload": _b64(audioop.lin2ulaw(pcm, 2)),
                },
            }
        )

    def dtmf(self, digit: str) -> Outgoing:
        return self._json(
            {"event": "dtmf", "streamSid": self.stream_id, "dtmf": {"track": "inbound_track", "digit": digit}}
        )

    def stop(self) -> Outgoing | None:
        return self._json(
            {
                "event": "stop",
                "streamSid": self.stream_id,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": self.call_id},
            }
        )

    def mark_echo(self, name: str) -> Outgoing | None:
        return self._json({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})

    def parse(self, raw: str | bytes) -> BotMessage | None:
        message = json.loads(raw)
        event = message.get("event")
        if event == "media":
            return BotAudio(audioop.ulaw2lin(base64.b64decode(message["media"]["payload"]), 2))
        if event == "mark":
            return BotMark(message["mark"]["name"])
        if event == "clear":
            return BotClear()
        return None


class TwilioWire(Wire):
    pass


class TelnyxWire(Wire):
    """Telnyx media streaming, bidirectional RTP mode with PCMU."""

    path = "/telnyx/media"
    token_in_url = True
    platform = "telnyx"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.call_id.startswith("CA"):
            self.call_id = "v3:" + uuid.uuid4().hex
        if self.stream_id.startswith("MZ"):
            self.stream_id = str(uuid.uuid4())

    def _json(self, message: dict[str, Any]) -> str:
        return json.dumps({"sequence_number": str(self._next_seq()), **message, "stream_id": self.stream_id})

    def opening(self) -> list[Outgoing]:
        return [
            json.dumps({"event": "connected", "version": "1.0.0"}),
            self._json(
                {
                    "event": "start",
                    "start": {
                        "user_id": str(uuid.uuid4()),
                        "call_control_id": self.call_id,
                        "call_session_id": str(uuid.uuid4()),
                        "from": self.caller,
                        "to": self.dialed,
                        "client_state": "",
                        "tags": [],
                        "media_format": {"encoding": "PCMU", "sample_rate": RATE, "channels": 1},
                    },
                }
            ),
        ]

    def media(self, pcm: bytes, timestamp_ms: int) -> Outgoing:
        self._chunk += 1
        payload = _b64(audioop.lin2ulaw(pcm, 2))
        media = {"track": "inbound", "chunk": str(self._chunk), "timestamp": str(timestamp_ms), "payload": payload}
        return self._json({"event": "media", "media": media})

    def dtmf(self, digit: str) -> Outgoing:
        return self._json({"event": "dtmf", "dtmf": {"digit": digit}})

    def stop(self) -> Outgoing | None:
        return self._json({"event": "stop", "stop": {"call_control_id": self.call_id}})

    def mark_echo(self, name: str) -> Outgoing | None:
        return self._json({"event": "mark", "mark": {"name": name}})


class PlivoWire(Wire):
    """Plivo ``<Stream bidirectional>``: the numbers arrive as ``extra_headers``; no ``stop``, the socket closes."""

    path = "/plivo/media"
    token_in_url = True
    platform = "plivo"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.call_id.startswith("CA"):
            self.call_id = str(uuid.uuid4())
        if self.stream_id.startswith("MZ"):
            self.stream_id = str(uuid.uuid4())

    def _extra_headers(self) -> str:
        return json.dumps({"from": self.caller, "to": self.dialed})

    def opening(self) -> list[Outgoing]:
        start = {
            "callId": self.call_id,
            "streamId": self.stream_id,
            "accountId": "MA" + "0" * 18,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE},
        }
        return [
            json.dumps({"sequenceNumber": 0, "event": "start", "start": start, "extra_headers": self._extra_headers()})
        ]

    def media(self, pcm: bytes, timestamp_ms: int) -> Outgoing:
        self._chunk += 1
        media = {
            "track": "inbound",
            "timestamp": str(timestamp_ms),
            "chunk": self._chunk,
            "payload": _b64(audioop.lin2ulaw(pcm, 2)),
        }
        return json.dumps(
            {"sequenceNumber": self._next_seq(), "streamId": self.stream_id, "event": "media", "media": media}
        )

    def dtmf(self, digit: str) -> Outgoing:
        return json.dumps({"event": "dtmf", "streamId": self.stream_id, "dtmf": {"digit": digit}})

    def stop(self) -> Outgoing | None:
        return None

    def mark_echo(self, name: str) -> Outgoing | None:
        return json.dumps({"event": "playedStream", "streamId": self.stream_id, "name": name})

    def parse(self, raw: str | bytes) -> BotMessage | None:
        message = json.loads(raw)
        event = message.get("event")
        if event == "playAudio":
            return BotAudio(audioop.ulaw2lin(base64.b64decode(message["media"]["payload"]), 2))
        if event == "checkpoint":
            return BotMark(message["name"])
        if event == "clearAudio":
            return BotClear()
        return None


class ExotelWire(Wire):
    """Exotel Voicebot applet: base64 16-bit PCM at 8 kHz in ``media`` both ways."""

    path = "/exotel/media"
    token_in_url = True
    platform = "exotel"

    def _json(self, message: dict[str, Any]) -> str:
        return json.dumps({"sequence_number": str(self._next_seq()), "stream_sid": self.stream_id, **message})

    def opening(self) -> list[Outgoing]:
        start = {
            "stream_sid": self.stream_id,
            "call_sid": self.call_id,
            "account_sid": "exotel-account",
            "from": self.caller,
            "to": self.dialed,
            "custom_parameters": {},
            "media_format": {"encoding": "audio/x-raw", "sample_rate": str(RATE), "bit_rate": "16"},
        }
        return [json.dumps({"event": "connected"}), self._json({"event": "start", "start": start})]

    def media(self, pcm: bytes, timestamp_ms: int) -> Outgoing:
        self._chunk += 1
        return self._json(
            {
                "event": "media",
                "media": {"chunk": str(self._chunk), "timestamp": str(timestamp_ms), "payload": _b64(pcm)},
            }
        )

    def dtmf(self, digit: str) -> Outgoing:
        return self._json({"event": "dtmf", "dtmf": {"digit": digit, "duration": "100"}})

    def stop(self) -> Outgoing | None:
        return self._json({"event": "stop", "stop": {"call_sid": self.call_id, "reason": "callended"}})

    def mark_echo(self, name: str) -> Outgoing | None:
        return self._json({"event": "mark", "mark": {"name": name}})

    def parse(self, raw: str | bytes) -> BotMessage | None:
        message = json.loads(raw)
        event = message.get("event")
        if event == "media":
            return BotAudio(base64.b64decode(message["media"]["payload"]))
        if event == "mark":
            return BotMark(message["mark"]["name"])
        if event == "clear":
            return BotClear()
        return None


class VonageWire(Wire):
    """Vonage Voice API websocket: binary 16 kHz linear PCM, JSON events; no marks, no ``stop``."""

    path = "/vonage/media"
    token_in_url = True
    platform = "vonage"
    echoes_marks = False
    wire_rate = 16000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.call_id.startswith("CA"):
            self.call_id = str(uuid.uuid4())
        self._up = soxr.ResampleStream(RATE, self.wire_rate, 1, dtype="int16")
        self._down = soxr.ResampleStream(self.wire_rate, RATE, 1, dtype="int16")

    def opening(self) -> list[Outgoing]:
        return [
            json.dumps(
                {
                    "event": "websocket:connected",
                    "content-type": f"audio/l16;rate={self.wire_rate}",
                    "from": self.caller,
                    "to": self.dialed,
                    "call_uuid": self.call_id,
                }
            )
        ]

    def media(self, pcm: bytes, timestamp_ms: int) -> Outgoing:
        return self._up.resample_chunk(np.frombuffer(pcm, dtype=np.int16)).tobytes()

    def dtmf(self, digit: str) -> Outgoing:
        return json.dumps({"event": "websocket:dtmf", "digit": digit, "duration": 250})

    def stop(self) -> Outgoing | None:
        return None

    def mark_echo(self, name: str) -> Outgoing | None:
        return None

    def parse(self, raw: str | bytes) -> BotMessage | None:
        if isinstance(raw, bytes):
            return BotAudio(self._down.resample_chunk(np.frombuffer(raw, dtype=np.int16)).tobytes())
        if json.loads(raw).get("action") == "clear":
            return BotClear()
        return None


WIRES: dict[str, type[Wire]] = {
    "twilio": TwilioWire,
    "telnyx": TelnyxWire,
    "plivo": PlivoWire,
    "exotel": ExotelWire,
    "vonage": VonageWire,
}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
