"""The conversation processor, frames in and frames out: what the caller hears, when the call ends, what is kept.

No speech models: transcripts come in as the turn taker would send them and
marks are echoed as the phone side would, each only once the bot has said what
it answers; the session, store, CRM and outbox are real (tests/pipeline/conftest.py),
as is the call control that closes the stream.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import replace

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    EndFrame,
    EndWorkerFrame,
    Frame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from voicebot.pipeline.conversation import ConversationProcessor
from voicebot.pipeline.frames import ListeningFrame, MarkEchoFrame, SpeakFrame, TurnTranscriptionFrame
from voicebot.server.metrics import Timings
from voicebot.storage.records import Turn
from voicebot.storage.sqlite.records import SQLiteCallStore
from voicebot.telephony.control import StreamCloseCallControl

WAIT_SECS = 10.0  # a generous bound on things that take milliseconds; never reached when the code is right


class Phone(FrameProcessor):
    """Both ends of the line in one: keeps what the conversation sends either way, and lets the test wait for it."""

    def __init__(self, direction: FrameDirection):
        super().__init__()
        self._direction = direction
        self.frames: list[Frame] = []
        self._changed = asyncio.Event()

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if direction is self._direction:
            self.frames.append(frame)
            self._changed.set()
        await self.push_frame(frame, direction)

    def of(self, kind: type) -> list:
        return [f for f in self.frames if isinstance(f, kind)]

    async def until(self, kind: type, count: int) -> list:
        async with asyncio.timeout(WAIT_SECS):
            while len(self.of(kind)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.of(kind)


class Call:
    def __init__(self, worker: PipelineWorker, ear: Phone, back: Phone):
        self.worker, self.ear, self.back = worker, ear, back

    async def say(self, text: str, turn: int) -> None:
        await self.worker.queue_frame(TurnTranscriptionFrame(text=text, user_id="caller", timestamp="", turn=turn))

    async def hear(self, count: int) -> str:
        """The ``count``-th thing the bot says, once it has said it; its mark is then echoed (it played)."""
        spoken = (await self.ear.until(SpeakFrame, count))[count - 1]
        await self.worker.queue_frame(MarkEchoFrame(mark=spoken.mark))
        return spoken.text

    async def send(self, frame: Frame) -> None:
        await self.worker.queue_frame(frame)


@asynccontextmanager
async def call_with(session, timings: Timings | None = None):
    """The conversation between a phone on each side; the stream closes at the end of the block if still open."""
    await session.begin()
    back, ear = Phone(FrameDirection.UPSTREAM), Phone(FrameDirection.DOWNSTREAM)
    conversation = ConversationProcessor(session, StreamCloseCallControl(), silence_timeout=30, timings=timings)
    worker = PipelineWorker(
        Pipeline([back, conversation, ear]),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    call = Call(worker, ear, back)
    try:
        yield call
    finally:
        if not running.done():
            await worker.queue_frame(EndFrame())
        async with asyncio.timeout(WAIT_SECS):
            await running


async def test_a_caller_who_asks_for_an_agent_hears_the_hand_off_and_is_transferred_with_a_pop(services, new_session):
    shared = services()
    session = new_session(shared)
    async with call_with(session) as call:
        assert (await call.hear(1)).startswith("Hi Jane")
        await call.say("I'd like to speak to an agent please", turn=1)
        assert "connecting you to an agent" in await call.hear(2)
        await call.back.until(EndWorkerFrame, 1)  # the stream closes: the platform asks where the caller goes
    assert call.back.of(ListeningFrame)  # the turn taker was told what the greeting asked
    record = await shared.store.get("CA1")
    assert (record.outcome, record.outcome_reason) == ("transferred", "caller_requested_agent")
    assert [t.role for t in record.turns] == ["bot", "caller", "bot"]
    assert record.screen_pops and record.transfer.target == "support"


async def test_a_goodbye_ends_the_call_once_the_caller_has_heard_it_with_no_pop(services, new_session):
    shared = services()
    session = new_session(shared)
    async with call_with(session) as call:
        await call.hear(1)
        await call.say("No thanks, that's all", turn=1)
        spoken = (await call.ear.until(SpeakFrame, 2))[1]
        assert "goodbye" in spoken.text.lower()
        assert session.outcome is None and not call.back.of(EndWorkerFrame)  # not before it has played
        await call.send(MarkEchoFrame(mark=spoken.mark))
        await call.back.until(EndWorkerFrame, 1)
    record = await shared.store.get("CA1")
    assert (record.outcome, record.outcome_reason) == ("completed", "caller_done")
    assert record.turns[-1].ended_at is not None  # heard to the end
    assert not record.screen_pops and record.transfer is None


async def test_a_phone_that_never_echoes_the_goodbye_still_has_its_call_ended(services, new_session, caplog):
    shared = services()
    session = new_session(shared)
    async with call_with(session) as call:
        await call.hear(1)
        await call.say("Bye.", turn=1)
        await call.ear.until(SpeakFrame, 2)  # no echo follows
        await call.back.until(EndWorkerFrame, 1)
    assert "no echo of mark" in caplog.text
    record = await shared.store.get("CA1")
    assert record.outcome == "completed" and record.turns[-1].ended_at is None


async def test_a_caller_who_talks_over_the_greeting_stops_it_and_it_is_marked_interrupted(services, new_session):
    shared = services()
    session = new_session(shared)
    async with call_with(session) as call:
        await call.ear.until(SpeakFrame, 1)
        await call.send(VADUserStartedSpeakingFrame())
        await call.ear.until(VADUserStartedSpeakingFrame, 1)
    record = await shared.store.get("CA1")
    assert record.turns[0].role == "bot" and record.turns[0].interrupted
    assert any(e.kind == "barge_in" for e in record.events)


async def test_words_said_over_the_hand_off_are_still_recorded(services, new_session):
    shared = services()
    session = new_session(shared)
    async with call_with(session) as call:
        await call.hear(1)
        await call.say("Agent.", turn=1)
        await call.ear.until(SpeakFrame, 2)
        await call.say("and it's about my bill", turn=2)  # the bot no longer listens: kept, not answered
        async with asyncio.timeout(WAIT_SECS):
            while len((await shared.store.get("CA1")).turns) < 4:
                await asyncio.sleep(0.01)
        await call.hear(2)
        await call.back.until(EndWorkerFrame, 1)
    record = await shared.store.get("CA1")
    assert record.outcome == "transferred" and len(call.ear.of(SpeakFrame)) == 2
    assert (record.turns[-1].role, record.turns[-1].text) == ("caller", "and it's about my bill")


class BusyStore(SQLiteCallStore):
    """The real store, except that the bot's turns are written only when the test lets them (a store under load)."""

    def __init__(self, path):
        super().__init__(path)
        self.let_through = asyncio.Event()

    async def add_turn(self, call_id: str, turn: Turn) -> int:
        if turn.role == "bot":
            await self.let_through.wait()
        return await super().add_turn(call_id, turn)


async def test_the_bot_speaks_before_its_turn_is_written_and_the_record_still_gets_every_detail(
    services, new_session, tmp_path
):
    shared = services()
    busy = BusyStore(tmp_path / "busy.sqlite3")
    session = new_session(replace(shared, store=busy))
    try:
        async with call_with(session) as call:
            assert (await call.ear.until(SpeakFrame, 1))[0].text.startswith("Hi Jane")  # its row not written yet
            busy.let_through.set()
            await call.hear(1)
            busy.let_through.clear()
            await call.say("No thanks, that's all", turn=1)
            goodbye = (await call.ear.until(SpeakFrame, 2))[1]  # spoken while its row waits
            assert "goodbye" in goodbye.text.lower()
            await call.send(MarkEchoFrame(mark=goodbye.mark))  # heard to the end before the row exists
            await asyncio.sleep(0.1)
            busy.let_through.set()
            await call.back.until(EndWorkerFrame, 1)
        record = await busy.get("CA1")
        assert [t.role for t in record.turns] == ["bot", "caller", "bot"]
        assert record.turns[-1].ended_at is not None  # the echo reached the row written after it
        assert (record.outcome, record.outcome_reason) == ("completed", "caller_done")
        assert [i["intent"] for i in record.intents] == ["goodbye"]
    finally:
        await busy.aclose()


async def test_a_reply_is_timed_from_the_transcript_to_its_decision_and_from_the_last_word_to_its_first_audio(
    services, new_session
):
    timings = Timings()
    session = new_session(services())
    async with call_with(session, timings) as call:
        await call.hear(1)
        await call.send(BotStartedSpeakingFrame())
        await call.send(VADUserStartedSpeakingFrame())
        await call.send(VADUserStoppedSpeakingFrame(stop_secs=0.5))
        await call.say("What's the status of my case?", turn=1)
        await call.hear(2)
        await call.send(BotStartedSpeakingFrame())
        async with asyncio.timeout(WAIT_SECS):
            while "reply_sent" not in timings.summary():
                await asyncio.sleep(0.01)
    summary = timings.summary()
    assert summary["greeting_sent"]["count"] == 1 and summary["reply_decided"]["count"] == 1
    assert summary["greeting_decided"]["count"] == 1
    assert summary["reply_sent"]["count"] == 1 and summary["reply_sent"]["max_ms"] >= 500  # from the last word
