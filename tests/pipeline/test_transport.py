"""Bot audio's send pace: on the caller's playout clock, up to a lead ahead, lateness made up and counted."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import pytest
from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame, OutputTransportMessageFrame
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.utils.frame_queue import FrameQueue
from starlette.websockets import WebSocketState

from voicebot.pipeline.transport import (
    CATCH_UP_SECS,
    DRAIN_FRAMES,
    RECEIVED,
    STALL_SECS,
    CallTransport,
    Gather,
    SteadySender,
    pace,
)
from voicebot.server.metrics import Timings

CHUNK = 0.04  # seconds of audio in each message


def send(chunks: int, lead: float, late: dict[int, float] | None = None, quiet: dict[int, float] | None = None):
    """Send ``chunks`` chunks through ``pace`` on a simulated clock.

    ``late``: how much later than asked the loop wakes up to send chunk i;
    ``quiet``: seconds with nothing to send before chunk i. Returns when each
    chunk was sent and when it is due to play at the caller.
    """
    now, next_play = 100.0, 0.0
    sent, due = [], []
    for i in range(chunks):
        now += (quiet or {}).get(i, 0.0)
        starts_over = now - next_play > CATCH_UP_SECS
        delay, after = pace(next_play, now, CHUNK, lead)
        due.append(now if starts_over else next_play)
        now += delay + (late or {}).get(i, 0.0)
        sent.append(now)
        next_play = after
    return sent, due


def test_without_a_lead_each_chunk_goes_out_as_it_plays():
    sent, plays = send(50, lead=0.0)
    assert sent == pytest.approx(plays)
    assert sent[-1] - sent[0] == pytest.approx(49 * CHUNK)


def test_with_a_lead_the_first_chunks_go_at_once_and_the_rest_stay_that_far_ahead():
    sent, plays = send(50, lead=0.24)
    ahead = [p - s for s, p in zip(sent, plays, strict=True)]
    assert max(ahead) == pytest.approx(0.24)
    assert sent[:7] == pytest.approx([sent[0]] * 7)  # 240 ms of audio before the clock holds it back
    assert ahead[10:] == pytest.approx([0.24] * 40)
    assert plays == pytest.approx([plays[0] + i * CHUNK for i in range(50)])  # playout itself stays gapless


def test_a_late_wake_up_is_made_up_at_once_and_the_schedule_kept():
    on_time, _ = send(50, lead=0.0)
    sent, plays = send(50, lead=0.0, late={20: 0.1})
    assert sent[20] == pytest.approx(on_time[20] + 0.1)
    assert sent[21:23] == pytest.approx([sent[20]] * 2)  # two chunks owed go out together
    assert sent[25:] == pytest.approx(on_time[25:])  # and the prompt ends when it would have


def test_a_lead_absorbs_a_late_wake_up_shorter_than_itself():
    sent, plays = send(50, lead=0.24, late={20: 0.1})
    assert all(p >= s for s, p in zip(sent, plays, strict=True))  # nothing sent after it should have played
    assert plays == pytest.approx([plays[0] + i * CHUNK for i in range(50)])


def test_after_a_silence_longer_than_the_catch_up_the_next_audio_starts_a_new_schedule():
    sent, plays = send(30, lead=0.0, quiet={15: CATCH_UP_SECS + 0.5})
    assert plays[15] == pytest.approx(sent[15])
    assert plays[16:] == pytest.approx([plays[15] + i * CHUNK for i in range(1, 15)])
    assert plays[15] - plays[14] > CATCH_UP_SECS  # not a burst to catch up with the old clock


def piece(ms: int, fill: int, rate: int = 16000) -> InputAudioRawFrame:
    return InputAudioRawFrame(bytes([fill]) * (rate * 2 * ms // 1000), rate, 1)


def test_caller_audio_is_gathered_into_40_ms_frames_stamped_with_their_first_piece_s_arrival():
    gather = Gather(40)
    out = [gather.add(piece(20, i), now=10.0 + i * 0.02) for i in range(6)]
    frames = [f for f in out if f is not None]
    assert [f is None for f in out] == [True, False] * 3
    assert [len(f.audio) for f in frames] == [1280] * 3
    assert [f.metadata[RECEIVED] for f in frames] == pytest.approx([10.0, 10.04, 10.08])
    assert b"".join(f.audio for f in frames) == b"".join(bytes([i]) * 640 for i in range(6))  # in order, none lost


def test_audio_already_sent_in_longer_pieces_passes_as_it_came():
    gather = Gather(40)
    frame = gather.add(piece(60, 1, rate=8000), now=5.0)
    assert frame is not None and len(frame.audio) == 960 and frame.sample_rate == 8000


async def test_caller_audio_that_queued_up_is_handed_on_many_frames_to_a_turn_of_the_event_loop():
    # pipecat's own loop spends a task and several loop turns on each frame, so a backlog drained slower than
    # it filled at two dozen calls (docs/benchmarks.md); this one hands on the frames waiting, a few at a time.
    transport = CallTransport(None, FastAPIWebsocketParams(audio_in_enabled=True))  # type: ignore[arg-type]
    audio_in = transport.input()
    handed_on: list = []

    async def push_frame(frame, direction=None):
        handed_on.append(frame)

    audio_in.push_frame = push_frame  # type: ignore[method-assign]  # what comes out is the point
    audio_in._audio_in_queue = asyncio.Queue()  # as the transport's start makes it
    for _ in range(50):
        audio_in._audio_in_queue.put_nowait(InputAudioRawFrame(bytes(1280), 16000, 1))
    draining = asyncio.create_task(audio_in._audio_task_handler())
    after_each_turn = []
    while len(handed_on) < 50 and len(after_each_turn) < 200:
        await asyncio.sleep(0)
        after_each_turn.append(len(handed_on))
    draining.cancel()
    assert len(handed_on) == 50
    assert len(after_each_turn) <= 50 // DRAIN_FRAMES + 1  # pipecat's own loop: three turns per frame
    assert after_each_turn[0] <= DRAIN_FRAMES  # and the rest of the loop gets its turns meanwhile


async def test_bot_audio_sent_after_its_time_to_play_within_a_prompt_is_counted_as_a_gap_at_the_caller():
    timings = Timings()
    open_socket = SimpleNamespace(client_state=WebSocketState.CONNECTED)  # the messages themselves are not the point
    transport = CallTransport(open_socket, FastAPIWebsocketParams(audio_out_enabled=True), timings=timings)  # type: ignore[arg-type]
    audio_out = transport.output()
    audio_out._send_interval = CHUNK  # as the transport's start sets it

    async def sent_with_schedule_at(offset: float) -> None:
        audio_out._next_send_time = time.monotonic() + offset
        await audio_out._write_audio_sleep()

    await sent_with_schedule_at(-5.0)  # a prompt's first audio: nothing was due before it
    await sent_with_schedule_at(0.05)  # ahead of its time: no gap
    await sent_with_schedule_at(-0.1)  # due 100 ms ago: the caller heard 100 ms of nothing
    await sent_with_schedule_at(-(CATCH_UP_SECS + 0.2))  # a sentence rendered late: a new schedule, still a gap
    await audio_out.send_message(OutputTransportMessageFrame(message={"event": "mark"}))  # the prompt ends
    await sent_with_schedule_at(-0.8)  # the next prompt, after the caller spoke: not a gap
    await sent_with_schedule_at(-(STALL_SECS + 0.5))  # a prompt cut short sends no mark: so long is a new one
    late = timings.summary()["playout_late"]
    assert late["count"] == 2 and (CATCH_UP_SECS + 0.2) * 1000 <= late["max_ms"] < (CATCH_UP_SECS + 0.25) * 1000


def sender_of(transport: CallTransport) -> SteadySender:
    audio_out = transport.output()
    sender = SteadySender(audio_out, destination=None, sample_rate=8000, audio_chunk_size=640, params=audio_out._params)
    sender._audio_queue = FrameQueue()  # as the sender's start makes it
    return sender


async def test_bot_audio_waiting_to_go_is_taken_without_a_turn_of_the_event_loop_per_chunk():
    # pipecat's sender awaits each chunk inside asyncio.wait_for, a task and several loop turns per chunk: at two
    # dozen calls the chunks waited while their time to play passed (docs/benchmarks.md).
    sender = sender_of(CallTransport(None, FastAPIWebsocketParams(audio_out_enabled=True)))  # type: ignore[arg-type]
    for n in range(50):
        await sender._audio_queue.put(OutputAudioRawFrame(bytes([n]) * 640, 8000, 1))
    taken: list[bytes] = []

    async def take() -> None:
        async for frame in sender._next_frame():
            taken.append(frame.audio)

    taking = asyncio.create_task(take())
    await asyncio.sleep(0)  # one turn: the task starts
    await asyncio.sleep(0)
    taking.cancel()
    assert taken == [bytes([n]) * 640 for n in range(50)]  # all of them, in order, within those two turns


async def test_a_peer_that_stops_reading_is_still_written_off_after_the_write_timeout():
    params = FastAPIWebsocketParams(audio_out_enabled=True, audio_out_write_timeout_secs=0.05)
    transport = CallTransport(None, params)  # type: ignore[arg-type]
    sender = sender_of(transport)
    errors: list[str] = []

    async def never_returns(frame) -> bool:
        await asyncio.Event().wait()
        return True

    async def push_error(message: str, **kwargs) -> None:
        errors.append(message)

    transport.output().write_audio_frame = never_returns  # type: ignore[method-assign]  # a socket nobody reads
    transport.output().push_error = push_error  # type: ignore[method-assign]
    assert not await sender._internal_write_audio_frame(OutputAudioRawFrame(bytes(640), 8000, 1))
    assert len(errors) == 1 and "stopped reading" in errors[0]


async def test_a_chunk_due_inside_the_lead_goes_without_yielding_to_the_loop_and_one_beyond_it_waits():
    # Yielding with nothing to wait for costs a turn of a loop busy with two dozen calls: 40 ms of audio per turn
    # could not catch up once behind.
    audio_out = CallTransport(None, FastAPIWebsocketParams(audio_out_enabled=True), lead_secs=0.24).output()  # type: ignore[arg-type]
    audio_out._send_interval = CHUNK

    audio_out._next_send_time = time.monotonic() + 0.1  # plays in 100 ms: inside the lead
    inside = audio_out._write_audio_sleep()
    with pytest.raises(StopIteration):
        inside.send(None)  # finished without suspending

    audio_out._next_send_time = time.monotonic() + 1.0  # a second away: past the lead
    beyond = audio_out._write_audio_sleep()
    assert beyond.send(None) is not None  # suspended on the sleep
    beyond.close()
