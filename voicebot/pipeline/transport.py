"""The call's websocket transport: pipecat's FastAPI transport, with bot audio kept on a steady clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass

from fastapi import WebSocket
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    OutputTransportMessageUrgentFrame,
    OutputTransportReadyFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.transports.base_output import BOT_VAD_STOP_FALLBACK_SECS, BaseOutputTransport
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


class SteadySender(BaseOutputTransport.MediaSender):
    """pipecat's media sender without a task per chunk: two dozen calls' bot audio fell behind on two cores.

    For each chunk pipecat awaits the queue and the write each inside
    ``asyncio.wait_for``, which on Python 3.11 wraps the await in a task of its
    own: several turns of the event loop per 40 ms chunk. At 24 calls the
    chunks waited in the queue while their time to play passed (every one of
    946 gaps measured, docs/benchmarks.md). Here a waiting chunk is taken at
    once, and the write's time limit is an ``asyncio.timeout``, which makes no task.
    """

    def _next_frame(self) -> AsyncGenerator[Frame, None]:
        if self._mixer:
            return super()._next_frame()
        return self._queued_frames(BOT_VAD_STOP_FALLBACK_SECS)

    async def _queued_frames(self, vad_stop_secs: float) -> AsyncGenerator[Frame, None]:
        while True:
            try:
                frame = self._audio_queue.get_nowait()
            except asyncio.QueueEmpty:
                try:
                    frame = await asyncio.wait_for(self._audio_queue.get(), timeout=vad_stop_secs)
                except TimeoutError:
                    await self._bot_stopped_speaking()  # as pipecat's: the fallback for a stop never announced
                    continue
            await self._filter_audio(frame)
            self._apply_volume(frame)
            yield frame
            self._audio_queue.task_done()

    async def _internal_write_audio_frame(self, frame: OutputAudioRawFrame) -> bool:
        if not self._transport.is_usable:
            return False
        timeout = self._params.audio_out_write_timeout_secs
        try:
            async with asyncio.timeout(timeout):
                return await self._transport.write_audio_frame(frame)
        except TimeoutError as e:
            await self._transport.push_error(
                f"{self._transport} timed out after {timeout}s writing audio: the peer has stopped reading",
                exception=e,
                force_treat_as_permanent=True,
            )
            return False


class SteadyOutput(FastAPIWebsocketOutputTransport):
    """Sends bot audio on the caller's playout clock, up to a lead ahead of it, making up lateness.

    pipecat restarts its send clock whenever a chunk goes out late, so each late
    wake-up of a busy event loop pushes the rest of the prompt later for good;
    after a few, the phone's jitter buffer (about 60 ms) runs dry mid-word.
    Here ``_next_send_time`` is when the next chunk plays at the caller: a chunk
    goes out once that is less than the lead away, and a lateness shorter than
    :data:`CATCH_UP_SECS` is made up at once with the schedule kept; a longer gap
    means the bot was quiet, and the next audio starts a new schedule. Chunks
    due inside the lead go out in one turn of the event loop, not one each.
    """

    def __init__(self, *args, lead_secs: float = 0.0, timings: Timings | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._lead_secs = lead_secs
        self._timings = timings
        self._prompt_ended = True  # a mark went out since the last audio: the next audio starts a prompt

    async def set_transport_ready(self, frame: StartFrame):
        """pipecat's, with a :class:`SteadySender` for the one destination a call has."""
        if self._params.audio_out_destinations or self._params.video_out_destinations:
            raise ValueError("a call's output has one audio destination")
        self._media_senders[None] = SteadySender(
            self,
            destination=None,
            sample_rate=self.sample_rate,
            audio_chunk_size=self.audio_chunk_size,
            params=self._params,
        )
        await self._media_senders[None].start(frame)
        await self.push_frame(OutputTransportReadyFrame(), FrameDirection.UPSTREAM)

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
        if delay > 0:  # otherwise behind, or inside the lead: the next chunk goes in this same turn of the loop
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
