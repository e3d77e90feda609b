"""``voicebot call``: talk to a running voicebot from a terminal, as a phone line would.

The call goes over a platform's media stream (Twilio by default), real-time
paced, marks echoed after playback, ``clear`` honoured. Audio comes from the
microphone (``voicebot[mic]``: sounddevice + PortAudio) or a WAV file
(``--play``); ``--record`` keeps both sides as a stereo WAV (caller left, bot
right). Both sides' transcript is printed as the call goes (from the server's
call record), then the outcome and the screen pop the agent received.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

from voicebot.caller import FRAME_BYTES, RATE, PhoneCaller, caller_for, http_base, read_wav_8k
from voicebot.caller.tokens import ServerTokens
from voicebot.tools.ani import mask_phone

POLL_SECS = 0.5
DTMF_KEYS = set("0123456789*#")


class CallError(Exception):
    """The call could not be placed or went wrong in a way the user must hear about."""


@dataclass
class CallOptions:
    url: str = "ws://127.0.0.1:8080"
    platform: str = "twilio"
    ani: str = "+14155552671"
    play: Path | None = None
    record: Path | None = None
    dtmf: str = ""
    timeout: float = 120.0
    tokens: ServerTokens = ServerTokens()  # for a server that has secrets


class StereoRecorder:
    """Both sides of the call on one clock: caller left, bot right, 8 kHz."""

    def __init__(self, path: Path):
        self.path = path
        self._frames: list[bytes] = []

    def __call__(self, caller: bytes, bot: bytes) -> None:
        left = np.frombuffer(caller, dtype=np.int16)
        right = np.frombuffer(bot, dtype=np.int16)
        self._frames.append(np.column_stack([left, right]).astype(np.int16).tobytes())

    def save(self) -> float:
        with wave.open(str(self.path), "wb") as w:
            w.setnchannels(2)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(b"".join(self._frames))
        return len(self._frames) * FRAME_BYTES / 2 / RATE


class SoundDevice:
    """Microphone in, speaker out, through sounddevice (PortAudio)."""

    def __init__(self, call: PhoneCaller, loop: asyncio.AbstractEventLoop):
        try:
            import sounddevice
        except (ImportError, OSError) as exc:  # OSError: the module is there but PortAudio is not
            raise CallError(
                f"no audio device support ({exc}). Install it with: pip install 'voicebot[mic]' "
                "(and PortAudio: apt-get install libportaudio2), or use --play FILE.wav"
            ) from None
        self._sd = sounddevice
        self._call = call
        self._loop = loop
        try:
            self._input = sounddevice.RawInputStream(
                samplerate=RATE, channels=1, dtype="int16", blocksize=FRAME_BYTES // 2, callback=self._captured
            )
            self._output = sounddevice.RawOutputStream(samplerate=RATE, channels=1, dtype="int16")
        except Exception as exc:  # PortAudioError has no stable import path
            raise CallError(f"no usable audio device: {exc}. Use --play FILE.wav to call without one.") from None

    def _captured(self, data, frames, time_info, status) -> None:
        self._loop.call_soon_threadsafe(self._call.feed, bytes(data))

    def play(self, caller: bytes, bot: bytes) -> None:
        self._output.write(bot)

    def __enter__(self) -> SoundDevice:
        self._input.start()
        self._output.start()
        return self

    def __exit__(self, *exc) -> None:
        for stream in (self._input, self._output):
            stream.stop()
            stream.close()


class Transcript:
    """Prints each turn of the server's call record once, as it appears."""

    def __init__(self, http: str, call_id: str, out: Callable[[str], None]):
        self._url = f"{http}/api/calls/{call_id}"
        self._out = out
        self._printed: dict[int, str] = {}
        self.record: dict[str, Any] | None = None

    async def poll(self, client: httpx.AsyncClient) -> None:
        try:
            response = await client.get(self._url)
        except httpx.HTTPError:
            return
        if response.status_code != 200:
            return
        self.record = response.json()
        for i, turn in enumerate(self.record.get("turns", [])):
            text = turn.get("text", "")
            if text and self._printed.get(i) != text:
                self._printed[i] = text
                who = "you" if turn["role"] == "caller" else "bot"
                self._out(f"  {who:>3}: {text}")


def outcome_lines(record: dict[str, Any] | None) -> list[str]:
    if record is None:
        return ["outcome: unknown (no call record on the server)"]
    outcome = record.get("outcome") or "in progress"
    reason = (record.get("outcome_reason") or "").replace("_", " ")
    lines = []
    transfer = record.get("transfer") or {}
    if outcome == "transferred":
        how = "queue" if transfer.get("mode") == "enqueue" else "number"
        lines.append(f"outcome: transferred to {how} {transfer.get('target')} ({reason})")
    elif outcome == "completed":
        lines.append(f"outcome: goodbye ({reason})")
    else:
        lines.append(f"outcome: {outcome} ({reason})")
    for pop in record.get("screen_pops", []):
        payload = pop.get("payload", {})
        customer = (payload.get("customer") or {}).get("name", "unknown caller")
        case = (payload.get("case") or {}).get("number", "no case")
        action = payload.get("action") or {}
        lines.append(f"screen pop {payload.get('id')}: {customer}, {case}; {action.get('type')} {action.get('url')}")
        if payload.get("summary"):
            lines.append(f"  summary: {payload['summary']}")
    return lines


async def place_call(options: CallOptions, out: Callable[[str], None] = print) -> dict[str, Any] | None:
    """One call, start to finish; returns the server's call record."""
    loop = asyncio.get_running_loop()
    call = caller_for(options.platform, options.url, caller=options.ani, token=options.tokens.media)
    recorder = StereoRecorder(options.record) if options.record else None
    caller_audio = read_wav_8k(options.play) if options.play else None
    device = None if caller_audio is not None else SoundDevice(call, loop)
    if recorder:
        call.listeners.append(recorder)
    if device:
        call.listeners.append(device.play)
    http = http_base(call.url)
    try:
        await call.__aenter__()
    except (OSError, websockets.InvalidURI, websockets.InvalidHandshake) as exc:
        raise CallError(f"cannot reach voicebot at {call.stream_url}: {exc}") from None
    out(f"calling {call.stream_url} as {mask_phone(options.ani)} over {options.platform} (call {call.call_sid})")
    transcript = Transcript(http, call.call_sid, out)
    try:
        async with httpx.AsyncClient(timeout=2.0, headers=options.tokens.api_headers) as client:
            poller = asyncio.create_task(_poll(transcript, client, call))
            if device:
                with device:
                    keypad = _Keypad(call, loop)
                    out("talking: speak into the microphone; type digits + Enter for DTMF, Ctrl-C hangs up")
                    await _until_closed(call, options.timeout)
                    keypad.stop()
            else:
                await _scripted(call, caller_audio, options)
            poller.cancel()
            await asyncio.sleep(0.3)  # the server finishes the record as the stream closes
            await transcript.poll(client)
    finally:
        await call.__aexit__(None, None, None)
        if recorder:
            seconds = recorder.save()
            out(f"recorded {seconds:.1f} s of both sides to {options.record} (caller left, bot right)")
    if call.close_code not in (None, 1000, 1005):
        out(f"the server closed the stream with code {call.close_code}")
    for line in outcome_lines(transcript.record):
        out(line)
    return transcript.record


async def _scripted(call: PhoneCaller, caller_audio: bytes | None, options: CallOptions) -> None:
    await call.wait_for_prompts(1, timeout=30)
    if caller_audio:
        await call.say(caller_audio)
    for digit in options.dtmf:
        await call.press(digit)
    await _until_closed(call, options.timeout)


async def _until_closed(call: PhoneCaller, timeout: float) -> None:
    try:
        await call.wait_closed(timeout)
    except TimeoutError:
        await call.hang_up()


async def _poll(transcript: Transcript, client: httpx.AsyncClient, call: PhoneCaller) -> None:
    while not call.closed.is_set():
        await transcript.poll(client)
        await asyncio.sleep(POLL_SECS)


class _Keypad:
    """Digits typed on the terminal become DTMF."""

    def __init__(self, call: PhoneCaller, loop: asyncio.AbstractEventLoop):
        self._call = call
        self._loop = loop
        self._stopped = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            if self._stopped.is_set():
                return
            for key in line.strip():
                if key in DTMF_KEYS:
                    asyncio.run_coroutine_threadsafe(self._call.press(key), self._loop)

    def stop(self) -> None:
        self._stopped.set()
