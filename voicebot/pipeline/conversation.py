"""The frame processor that runs the dialogue inside a call's pipeline.

It turns pipeline events (a transcript, a keypress, the caller starting to speak,
the phone side echoing a mark) into calls on the dialogue policy, and the
policy's replies into speech. It also owns turn timing: silence re-prompts,
barge-in, taking back an answer the caller had not finished, and the latency
from the end of the caller's speech to the bot's first audio.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    CancelFrame,
    EndFrame,
    Frame,
    InputDTMFFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.dialogue import CallFlow, FlowState, HandOverReason, Next, Reply
from voicebot.pipeline.frames import (
    CallerHungUpFrame,
    CallerSilentFrame,
    ClosingPromptFrame,
    HandOverFrame,
    ListeningFrame,
    MarkEchoFrame,
    PrepareSpeechFrame,
    ProtocolViolationFrame,
    SpeakFrame,
    TurnResumedFrame,
    TurnTranscriptionFrame,
)
from voicebot.pipeline.session import CallSession, new_turn
from voicebot.pipeline.turns import Draft, TurnTiming
from voicebot.server.metrics import Timings
from voicebot.storage.records import utcnow
from voicebot.telephony.control import CallControl

T = TypeVar("T")

log = logging.getLogger(__name__)

# How long past a final prompt's own length to wait for its mark before closing anyway.
MARK_GRACE_SECS = 3.0


class FlowExpectation:
    """The question the flow last asked, for the turn taker: would a transcript answer it, and with what."""

    def __init__(self, flow: CallFlow, lock: asyncio.Lock):
        self._flow = flow
        self._lock = lock  # the flow is not thread-safe, and a turn may be being answered meanwhile

    async def draft(self, text: str) -> Draft:
        async with self._lock:
            reply = await self._flow.preview(text)
        return Draft(answers=reply.acts, reply=reply.text if reply.acts else None)


@dataclass(frozen=True)
class ReplyTiming:
    """A reply's way from the caller's last voice to its first audio, in ms after that voice.

    How the turn ended (:class:`~voicebot.pipeline.turns.TurnTiming`), when the
    dialogue had decided the reply, and when its first audio went to the phone
    side: recorded with the call (``reply_timing`` events), and summed by
    ``voicebot bench`` into where a reply's time goes.
    """

    turn_id: int  # the caller turn's row
    turn: TurnTiming
    decided_ms: float
    sent_ms: float


@dataclass(frozen=True)
class Decided:
    """A reply decided for a caller turn, waiting for its first audio to complete its :class:`ReplyTiming`."""

    turn_id: int
    turn: TurnTiming
    decided_ms: float


@dataclass
class Answered:
    """The last caller turn answered, and the dialogue as it was before: an answer can be taken back."""

    turn: int
    take: int
    turn_id: int  # its row in the call record
    before: FlowState
    intents: int  # how many intents the call had recorded before it
    events: int  # and how many intent events


class ConversationProcessor(FrameProcessor):
    def __init__(
        self,
        session: CallSession,
        control: CallControl,
        *,
        silence_timeout: float,
        hints: bool = True,
        timings: Timings | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._session = session
        self._timings = timings or Timings()
        self._control = control
        self._silence_timeout = silence_timeout
        self._hints = hints
        self._flow: CallFlow | None = None
        self._marks = itertools.count(1)
        # A bot turn is spoken before its row is written (a busy store must not delay the caller's answer), so
        # what refers to that row holds the write and awaits it: mark -> (bot turn's row, reply).
        self._pending: dict[str, tuple[asyncio.Future[int], Reply]] = {}
        # (bot turn's row, the caller's last word, the caller turn's row and its end's timing, and its decision)
        self._awaiting_first_audio: tuple[asyncio.Future[int], float | None, Decided | None] | None = None
        self._turn_writes: set[asyncio.Future[Any]] = set()  # bot turns' rows and changes to them, in flight
        self._speech_started_at: str | None = None
        self._speech_ended: float | None = None  # perf_counter at the caller's last word
        self._speech_ended_iso: str | None = None
        self._silence_task: asyncio.Task | None = None
        self._ending: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._answered: Answered | None = None
        self._taken_back: tuple[int, int] | None = None  # a take superseded before it was answered

    # -- frame routing ---------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)

        if isinstance(frame, StartFrame):
            await self.push_frame(frame, direction)
            self.create_task(self._greet(), "greet")
        elif isinstance(frame, TurnTranscriptionFrame):
            await self._on_transcript(frame.text, (frame.turn, frame.take), frame.timing)
        elif isinstance(frame, TranscriptionFrame):
            await self._on_transcript(frame.text)
        elif isinstance(frame, TurnResumedFrame):
            await self._on_resumed(frame.turn, frame.take)
        elif isinstance(frame, InputDTMFFrame):
            await self._on_dtmf(frame.button.value)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._on_caller_started()
            await self.push_frame(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._on_caller_stopped(frame.stop_secs)
            await self.push_frame(frame, direction)
        elif isinstance(frame, BotStartedSpeakingFrame):
            await self._on_bot_audio_started()
            await self.push_frame(frame, direction)
        elif isinstance(frame, MarkEchoFrame):
            await self._on_mark(frame.mark)
        elif isinstance(frame, CallerHungUpFrame):
            await self._on_hang_up(frame)
        elif isinstance(frame, CallerSilentFrame):
            self._cancel_silence_timer()
            await self._reprompt()
        elif isinstance(frame, HandOverFrame):
            await self._on_hand_over(frame.reason)
        elif isinstance(frame, ProtocolViolationFrame):
            await self._session.fail(f"protocol_error: {frame.reason}")
            # In a task: a platform that answers the violation (Genesys's close) must reach this processor meanwhile.
            if self._ending is None or self._ending.done():
                self._ending = self.create_task(self._control.violated(self, self._session, frame.reason), "violated")
        elif isinstance(frame, (EndFrame, CancelFrame)):
            self._cancel_silence_timer()
            if self._ending is not None and not self._ending.done():
                await self.cancel_task(self._ending)
            # A store that is away holds them, so this is bounded by its patience.
            await asyncio.gather(*self._turn_writes, return_exceptions=True)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    # -- caller side -----------------------------------------------------------

    async def _greet(self):
        try:
            self._flow = await self._session.start_flow()
            self._timings.observe("greeting_decided", time.perf_counter() - self._session.started)
            # The greeting's latency is the caller's wait from the stream's start.
            await self._say(self._flow.greeting(), speech_ended=self._session.started)
        except Exception:
            log.exception("call %s: could not start the dialogue", self._session.call.id)
            await self._session.fail("dialogue_start_failed")
            await self._control.end(self, self._session, None)

    async def _on_caller_started(self):
        self._cancel_silence_timer()
        self._speech_started_at = utcnow()
        if self._flow and not self._flow.finished:
            await self._interrupt_prompt("speech")

    def _on_caller_stopped(self, silence_secs: float):
        # The stop comes ``silence_secs`` after the last word (the turn processor measures it).
        self._speech_ended = time.perf_counter() - silence_secs
        ended = datetime.now(UTC) - timedelta(seconds=silence_secs)
        self._speech_ended_iso = ended.isoformat(timespec="milliseconds")
        if not self._pending:
            self._start_silence_timer()

    async def _on_transcript(self, text: str, take: tuple[int, int] | None = None, timing: TurnTiming | None = None):
        if take is not None and take == self._taken_back:
            return  # the caller went on before it was answered; the next take holds these words too
        if self._flow is None or self._flow.finished:
            # Nothing a caller says is lost, even when the bot is no longer listening.
            await self._session.add_turn(new_turn("caller", text, self._speech_started_at))
            return
        heard = time.perf_counter()
        async with self._lock:
            before, intents, events = (
                self._flow.snapshot(),
                len(self._session.intents),
                len(self._session.intent_events),
            )
            last = self._answered
            if take is not None and last is not None and (last.turn, last.take + 1) == take:
                # The rest of a turn the bot began answering too early: one caller turn, answered whole.
                turn_id, before, intents, events = last.turn_id, last.before, last.intents, last.events
                await self._session.revise_turn(turn_id, text, self._speech_ended_iso)
            else:
                turn = new_turn("caller", text, self._speech_started_at)
                turn.ended_at = self._speech_ended_iso
                turn_id = await self._session.add_turn(turn)
            if take is not None:
                self._answered = Answered(take[0], take[1], turn_id, before, intents, events)
            reply = await self._flow.on_speech(text)
            if reply.intent:  # before the bot's turn: the record has each intent just before the reply it led to
                await self._session.record_intent(reply.intent, reply.branch)
            self._timings.observe("reply_decided", time.perf_counter() - heard)
            decided = None
            if timing is not None and self._speech_ended is not None:
                decided = Decided(turn_id, timing, (time.perf_counter() - self._speech_ended) * 1000)
            await self._say(reply, speech_ended=self._speech_ended, decided=decided)

    async def _on_dtmf(self, digit: str):
        await self._session.record_dtmf(digit)
        if self._flow is None or self._flow.finished:
            return
        self._cancel_silence_timer()
        async with self._lock:
            await self._interrupt_prompt("dtmf")
            reply = await self._flow.on_dtmf(digit)
            if reply.intent:
                await self._session.record_intent(reply.intent, reply.branch)
            await self._say(reply, speech_ended=time.perf_counter())

    async def _on_resumed(self, turn: int, take: int):
        """The caller went on right after the turn ended: take back what the bot began to answer."""
        self._cancel_silence_timer()
        async with self._lock:
            last = self._answered
            if last is None or (last.turn, last.take) != (turn, take):
                self._taken_back = (turn, take)  # not answered yet: it will be skipped
                return
            if self._flow is None or self._session.outcome is not None:
                return
            if self._ending is not None and not self._ending.done():
                await self.cancel_task(self._ending)
            self._ending = None
            await self._interrupt_prompt("caller_went_on")
            self._flow.restore(last.before)
            await self._session.withdraw_intents(last.intents, last.events)
            await self._session.record_event("turn_resumed", turn_id=last.turn_id)

    async def _interrupt_prompt(self, cause: str):
        """Barge-in: stop a prompt the caller is talking or keying over.

        pipecat's interruption drops queued bot audio and the serializer sends
        Twilio ``clear``; what the caller says or presses is the next turn.
        """
        if not self._pending:
            return
        for recorded, _ in self._pending.values():
            self._update_turn(recorded, interrupted=True)
        self._pending.clear()
        self._awaiting_first_audio = None
        await self.broadcast_interruption()
        await self._session.record_event("barge_in", by=cause)

    async def _on_silence(self):
        await asyncio.sleep(self._silence_timeout)
        self._silence_task = None  # this task is done waiting; _say must not cancel it
        await self._reprompt()

    async def _reprompt(self):
        if self._flow is None or self._flow.finished or self._pending:
            return
        await self._session.record_event("silence", seconds=self._silence_timeout)
        await self._say(self._flow.on_silence())

    async def _on_hand_over(self, reason: HandOverReason):
        if self._flow is None or self._flow.finished:
            return
        self._session.services.counters.add(f"calls_handed_over_{reason}")
        await self._session.record_event("hand_over", reason=reason)
        async with self._lock:
            await self._interrupt_prompt(reason)
            await self._say(self._flow.on_hand_over(reason))

    async def _on_hang_up(self, frame: CallerHungUpFrame):
        await self._session.abandon("caller_hung_up")
        await self._control.peer_closed(self, frame.reply)

    # -- bot side --------------------------------------------------------------

    async def _say(self, reply: Reply, speech_ended: float | None = None, decided: Decided | None = None):
        self._cancel_silence_timer()
        mark = f"utt-{next(self._marks)}"
        recorded = self._in_flight(self._session.add_turn(new_turn("bot", reply.text)))
        recorded.add_done_callback(self._unrecorded)
        self._pending[mark] = (recorded, reply)
        self._awaiting_first_audio = (recorded, speech_ended, decided)
        if reply.next is not Next.LISTEN:
            await self.push_frame(ClosingPromptFrame())
        await self.push_frame(SpeakFrame(text=reply.text, mark=mark))
        if reply.next is not Next.LISTEN:
            # Close even if the phone side never echoes the mark.
            words = len(reply.text.split())
            self._ending = self.create_task(self._end_after(mark, words / 2.5 + MARK_GRACE_SECS), "end")
        elif self._flow is not None:
            # While the caller listens, render the first words of the likely answers to them.
            await self.push_frame(PrepareSpeechFrame(texts=self._flow.likely_replies()))
            hint = self._flow.hint() if self._hints else ""
            expect = FlowExpectation(self._flow, self._lock)
            await self.push_frame(ListeningFrame(hint=hint, expect=expect), FrameDirection.UPSTREAM)

    async def _on_bot_audio_started(self):
        if self._awaiting_first_audio is None:
            return
        recorded, speech_ended, decided = self._awaiting_first_audio
        self._awaiting_first_audio = None
        if speech_ended is not None:
            latency = time.perf_counter() - speech_ended
            metrics = self._session.services.metrics
            greeting = speech_ended == self._session.started
            (metrics.greeting_latency if greeting else metrics.reply_latency).observe(latency)
            self._timings.observe("greeting_sent" if greeting else "reply_sent", latency)
            latency_ms = round(latency * 1000, 1)
            self._update_turn(recorded, latency_ms=latency_ms)
            log.info("call %s: turn latency %.0f ms", self._session.call.id, latency_ms)
            if decided is not None:
                timing = ReplyTiming(decided.turn_id, decided.turn, round(decided.decided_ms, 1), latency_ms)
                self._in_flight(self._session.record_event("reply_timing", **asdict(timing)))

    async def _on_mark(self, name: str):
        log.debug("call %s: mark %s echoed (pending %s)", self._session.call.id, name, list(self._pending))
        entry = self._pending.pop(name, None)
        if entry is None:
            return
        recorded, reply = entry
        self._update_turn(recorded, ended_at=utcnow())
        if reply.next is Next.LISTEN:
            if not self._pending:
                self._start_silence_timer()
        else:
            await self._finish(reply)

    async def _end_after(self, mark: str, timeout: float):
        await asyncio.sleep(timeout)
        entry = self._pending.pop(mark, None)
        if entry is not None:
            log.warning("call %s: no echo of mark %s; closing anyway", self._session.call.id, mark)
            await self._finish(entry[1])

    def _unrecorded(self, recorded: asyncio.Future[int]) -> None:
        if not recorded.cancelled() and (error := recorded.exception()) is not None:
            log.error("call %s: a bot turn could not be recorded: %r", self._session.call.id, error)

    def _update_turn(self, recorded: asyncio.Future[int], **changes) -> None:
        """Change a bot turn once its row exists, without holding up the frames meanwhile."""

        async def update():
            try:
                row = await recorded
            except Exception:  # logged by _unrecorded; there is no row to change
                return
            await self._session.update_turn(row, **changes)

        self._in_flight(update())

    def _in_flight(self, write: Coroutine[Any, Any, T]) -> asyncio.Future[T]:
        """A bot turn's write, started now; the record is closed and the pipeline ended only once it is done."""
        task = asyncio.ensure_future(write)
        self._turn_writes.add(task)
        task.add_done_callback(self._turn_writes.discard)
        return task

    async def _finish(self, reply: Reply):
        if self._session.outcome is not None:
            return
        await asyncio.gather(*self._turn_writes, return_exceptions=True)  # the record is whole before it is closed
        pop = None
        if reply.next is Next.TRANSFER and reply.handoff is not None:
            pop = await self._session.transfer(reply.handoff, self._control.choose)
        else:
            await self._session.complete()
        await self._control.end(self, self._session, pop)

    # -- timers ----------------------------------------------------------------

    def _start_silence_timer(self):
        self._cancel_silence_timer()
        if self._flow is not None and not self._flow.finished:
            self._silence_task = self.create_task(self._on_silence(), "silence")

    def _cancel_silence_timer(self):
        if self._silence_task is not None and not self._silence_task.done():
            self._silence_task.cancel()
        self._silence_task = None
