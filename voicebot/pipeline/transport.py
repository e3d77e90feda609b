"""The call's websocket transport: pipecat's FastAPI transport, with bot audio kept on a steady clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from fastapi import WebSocket
from pipecat.frames.frames import InputAudioRawFrame, OutputTransportMessageFrame, OutputTransportMessageUrgentFrame
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketInputTransport,
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)

from voicebot.server.metrics import Timings

CATCH_UP_SECS = 0.25  # later than this, the bot had nothing to say: start a new schedule
STALL_SECS = 1.0  # longer without a mark between: a new prompt after one cut short (its mark never went)
RECEIVED = "received"  # caller audio's metadata: time.monotonic() when its message arrived
GATHER_MS = 20  # the least caller audio per frame the pipeline gets (40 ms delayed short answers: docs/benchmarks.md)
DRAIN_FRAMES = 10  # waiting caller frames handed on per turn of the event loop
BUFFERED_LEAD_MS = 240  # ahead of playing, for a platform that buffers, clears and echoes marks (docs/benchmarks.md)


@dataclass(frozen=True)
class Playout:
    """How a platform takes bot audio: the size of each message, and how far ahead of its playing it may be sent.

    A platform that buffers what it is sent, drops that buffer on ``clear`` and
    echoes marks when the audio before them has played can take audio ahead of
    time; then a late wake-up of a busy event loop is absorbed by what the
    platform already holds, instead of being heard as a gap mid-word. Where
    "heard" is inferred from the send pace (no mark echo), nothing goes ahead.
    """

    chunk_ms: int = 40
    lead_ms: int = 0

    @classmethod
    def buffered(cls, chunk_ms: int = 40) -> Playout:
        return cls(chunk_ms, BUFFERED_LEAD_MS)


class SteadyOutput(FastAPIWebsocketOutputTransport):
    """Sends bot audio on the caller's playout clock, up to a lead ahead of it, making up lateness.

    pipecat restarts its send clock whenever a chunk goes out late, so each late
    wake-up of a busy event loop pushes the rest of the prompt later for good;
    after a few, the phone's jitter buffer (about 60 ms) runs dry mid-word.
    Here ``_next_send_time`` is when the next chunk plays at the caller: a chunk
    goes out once that is less than the lead away, and a lateness shorter than
    :data:`CATCH_UP_SECS` is made up at once with the schedule kept; a longer gap
    means the bot was quiet, and the next audio starts a new schedule.
    """

    def __init__(self, *args, lead_secs: float = 0.0, timings: Timings | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._lead_secs = lead_secs
        self._timings = timings
        self._prompt_ended = True  # a mark went out since the last audio: the next audio starts a prompt

    async def send_message(self, frame: OutputTransportMessageFrame | OutputTransportMessageUrgentFrame):
        self._prompt_ended = True  # every platform's prompt-end mark passes here, even one kept local
        await super().send_message(frame)

    async def _write_audio_sleep(self):
        now = time.monotonic()
        late = now - self._next_send_time  # the chunk just sent was due to play this long ago
        if self._prompt_ended:
            self._prompt_ended = False
        elif self._timings is not None and 0 < late <= STALL_SECS:
            self._timings.observe("playout_late", late)  # mid-prompt, the caller's playout ran dry
        delay, self._next_send_time = pace(self._next_send_time, now, self._send_interval, self._lead_secs)
        await asyncio.sleep(delay)


def pace(next_play: float, now: float, interval: float, lead: float) -> tuple[float, float]:
    """How long to wait before sending the next chunk, and when the chunk after it plays.

    ``next_play`` is when the next chunk plays at the caller; it goes out
    ``lead`` before that, at once if that moment has passed by less than
    :data:`CATCH_UP_SECS`. Later than that, it plays now and starts a new schedule.
    """
    if now - next_play > CATCH_UP_SECS:
        return 0.0, now + interval
    return max(0.0, next_play - lead - now), next_play + interval


class Gather:
    """Joins caller audio into frames of at least ``ms``, each stamped with when its first piece arrived.

    Each frame costs the event loop a hop through the processors before the
    turn logic, so a platform's smaller pieces are joined; 40 ms frames were
    measured and delayed some short answers at one call (docs/benchmarks.md).
    """

    def __init__(self, ms: int = GATHER_MS):
        self._ms = ms
        self._audio = bytearray()
        self._first = 0.0

    def add(self, frame: InputAudioRawFrame, now: float) -> InputAudioRawFrame | None:
        """The gathered frame once ``frame`` completes one, else ``None``."""
        least = self._ms * frame.sample_rate * frame.num_channels * 2
        if not self._audio and len(frame.audio) * 1000 >= least:
            frame.metadata[RECEIVED] = now  # the usual case, a whole frame already: no copy
            return frame
        if not self._audio:
            self._first = now
        self._audio += frame.audio
        if len(self._audio) * 1000 < least:
            return None
        gathered = InputAudioRawFrame(bytes(self._audio), frame.sample_rate, frame.num_channels)
        gathered.transport_source = frame.transport_source
        gathered.metadata[RECEIVED] = self._first
        self._audio.clear()
        return gathered


class StampedInput(FastAPIWebsocketInputTransport):
    """Gathers caller audio into :data:`GATHER_MS` frames, stamped on arrival to tell how far behind it is heard.

    The turn logic takes its pauses from when it gets the audio; if the
    pipeline falls behind the stream, every pause it measures is late by as
    much, and so is every reply (docs/benchmarks.md, ``audio_behind``).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._gather = Gather()

    async def push_audio_frame(self, frame: InputAudioRawFrame):
        if (gathered := self._gather.add(frame, time.monotonic())) is not None:
            await super().push_audio_frame(gathered)

    async def _audio_task_handler(self):
        """pipecat's audio loop without its ``asyncio.wait_for`` per frame, which only logged a quiet stream.

        ``wait_for`` wraps each ``get`` in a task of its own: three turns of the
        event loop per frame even with frames waiting. At two dozen calls a turn
        took long enough that a call's audio queued faster than it drained, and
        the turn logic heard the caller seconds late (docs/benchmarks.md); a
        plain ``get`` takes waiting frames :data:`DRAIN_FRAMES` to a loop turn.
        The idle stream is :class:`~voicebot.pipeline.media_watch.MediaIdleWatch`'s
        to notice.
        """
        handed_on = 0
        while True:
            frame = await self._audio_in_queue.get()
            if self._params.audio_in_passthrough:
                await self.push_frame(frame)
            self._audio_in_queue.task_done()
            handed_on += 1
            if handed_on % DRAIN_FRAMES == 0 and not self._audio_in_queue.empty():
                await asyncio.sleep(0)  # a backlog shares the loop with the other calls


class CallTransport(FastAPIWebsocketTransport):
    """pipecat's FastAPI websocket transport with a :class:`StampedInput` and a :class:`SteadyOutput`."""

    def __init__(
        self,
        websocket: WebSocket,
        params: FastAPIWebsocketParams,
        lead_secs: float = 0.0,
        timings: Timings | None = None,
    ):
        super().__init__(websocket, params)
        self._input = StampedInput(self, self._client, self._params, name=self._input_name)
        self._output = SteadyOutput(
            self, self._client, self._params, name=self._output_name, lead_secs=lead_secs, timings=timings
        )
