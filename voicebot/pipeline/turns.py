"""Where a caller's turn ends: a short pause, then a judgement of whether they have finished.

The VAD reports a pause after ``vad.stop_secs`` (0.2 s). The turn so far has been
transcribed during it (from ``turn.look_secs`` of silence), and what the
transcript is decides how much longer to wait, counted from the caller's last
voice-like sound:

- it answers what was just asked (the dialogue would act on it): in at most
  ``BRIEF_WORDS`` words ("Agent.", "A person."), ``turn.brief_secs``; in more,
  ``turn.answer_secs``, just past a comma's pause (both 0.45 s by default: a
  shorter brief wait cut slow callers at their commas);
- it is a lone opener ("Yes.", "Sorry.", "No thanks.") or something the dialogue
  does not understand: if Smart Turn hears the voice end, as an answer; if not
  (or Smart Turn is off), ``turn.hold_secs``;
- its words lead on ("I'm calling about", "my order and", "um"):
  ``turn.unfinished_secs``, the fallback for a caller who stalls.

Whisper writes "Yes," as "Yes.", so the text alone cannot tell an opener from
an answer; that is what the voice is asked about. A caller who goes on within
``turn.resume_secs`` of a turn's end was answered too early: a
:class:`~voicebot.pipeline.frames.TurnResumedFrame` stops the bot, and the rest
joins the same turn. docs/benchmarks.md measures each wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from voicebot.config import TurnSettings
from voicebot.pipeline.frames import ListeningFrame, PrepareSpeechFrame, TurnResumedFrame, TurnTranscriptionFrame
from voicebot.pipeline.inference import InferenceQueue, Priority, Ran
from voicebot.pipeline.smart_turn import EndOfTurnModel
from voicebot.pipeline.stt import Decoder
from voicebot.pipeline.transport import RECEIVED
from voicebot.server.metrics import Timings

log = logging.getLogger(__name__)

PRE_ROLL_SECS = 1.0  # audio kept from before the VAD noticed speech (it needs ``vad.start_secs`` of it)
MISSED_WORD_WINDOWS = 3  # voice-like VAD windows (about 0.1 s) the VAD did not take as speech: ask Whisper
BURST_GAP_SECS = 1.0  # quiet after which voice-like windows start a new burst
BURST_LEAD_SECS = 0.02  # of audio before the frame a burst was noticed in (a VAD window straddles two frames)
PAUSE_KEPT_SECS = 0.18  # of the pause after the last voice, heard as it was (line noise and all)
TRAILING_SILENCE_SECS = 0.5  # Whisper drops or garbles a last word that ends the audio abruptly
NO_SPEECH_PROB = 0.6  # segments Whisper itself thinks are not speech are dropped
BEHIND_EVERY = 25  # caller audio frames per sample of how far the turn logic is behind their arrival

# A sentence that ends on one of these is going somewhere: "I want to talk to...", "my order and", "I wanted to ask".
TRAILING_WORDS = frozenset(
    """a an the and or but so because if than then to of for from with about at in on by into as regarding
    my your our their his her its is are was were am be been i i'm that's there's um uh er erm like
    ask tell need want wanted wondering trying hoping talk speak when where which who how why""".split()
)
# ... and so does one ending on these pairs: "Could you tell me", "I wanted to know if".
TRAILING_PAIRS = frozenset(
    tuple(pair.split("+")) for pair in "tell+me let+me show+me give+me ask+you know+if know+whether wonder+if".split()
)
FILLERS = frozenset("um uh er erm uhm hmm mm ah well so".split())  # a turn of these alone is still to come
# A turn of these alone may be the whole answer ("Yes.") or its start ("Yes, I ..."): the voice decides.
OPENERS = frozenset(
    "yes yeah yep yup no nope sorry okay ok right sure thanks thank you hi hello hey oh alright please".split()
)
MAX_OPENER_WORDS = 3
# An answer this short may end at ``turn.brief_secs``; on the dev grid, 4 words cut more halves than 3.
BRIEF_WORDS = 3

Shape = Literal["brief", "answer", "opener", "unclear", "unfinished"]


def sounds_finished(text: str) -> bool:
    """Whether a transcript reads as a whole turn: it ends a sentence, and not on a word that leads on.

    Whisper writes what trails off with an ellipsis or no stop at all, and
    sometimes a question mark on a question not yet asked ("Can I talk to?").
    """
    text = text.strip()
    words = _words(text)
    if not words:
        return True  # nothing to wait for: noise, or a cough
    if text.endswith(("...", "\u2026")) or not text.endswith((".", "!", "?")):
        return False
    return words[-1] not in TRAILING_WORDS and tuple(words[-2:]) not in TRAILING_PAIRS


def shape_of(text: str, answers: bool) -> Shape:
    """What kind of turn ``text`` is, given whether the dialogue would act on it."""
    words = _words(text)
    if not words:
        return "answer"  # nothing to wait for
    if not sounds_finished(text) or all(w in FILLERS for w in words):
        return "unfinished"
    if len(words) <= MAX_OPENER_WORDS and all(w in OPENERS for w in words):
        return "opener"
    if len(words) <= 2 and words[0] in OPENERS:
        return "opener"  # "No thanks," misheard on a noisy line as "No thing."
    if not answers:
        return "unclear"
    return "brief" if len(words) <= BRIEF_WORDS else "answer"


def _words(text: str) -> list[str]:
    return [w for w in (w.strip(".,?!;:\"'\u2026").lower() for w in text.split()) if w]


@dataclass(frozen=True)
class Draft:
    """What the dialogue would make of a transcript, without acting on it."""

    answers: bool  # it would act (not re-ask, not check)
    reply: str | None = None  # what it would say: worth rendering before the turn ends


class Expectation(Protocol):
    """The question the caller is answering, as the dialogue that asked it sees it."""

    async def draft(self, text: str) -> Draft: ...


class VoiceTrace(Protocol):
    """What the VAD heard below its start threshold: the turn logic's finer ear (a ``HearsVoice``)."""

    @property
    def last_voice(self) -> float: ...  # time.monotonic() of the last voice-like window

    @property
    def voiced_windows(self) -> int: ...  # how many voice-like windows so far

    def as_of(self, buffer: bytes) -> tuple[float, int]: ...  # (last_voice, voiced_windows) as that audio left it


class _Unasked:
    async def draft(self, text: str) -> Draft:
        return Draft(answers=False)


@dataclass(frozen=True)
class TurnPolicy:
    """How long to wait after each shape of turn; from ``[turn]`` (measured defaults in docs/benchmarks.md)."""

    look_secs: float
    brief_secs: float
    answer_secs: float
    hold_secs: float
    unfinished_secs: float
    resume_secs: float
    complete_threshold: float

    @classmethod
    def from_settings(cls, settings: TurnSettings) -> TurnPolicy:
        return cls(
            look_secs=settings.look_secs,
            brief_secs=settings.brief_secs,
            answer_secs=settings.answer_secs,
            hold_secs=settings.hold_secs,
            unfinished_secs=settings.unfinished_secs,
            resume_secs=settings.resume_secs,
            complete_threshold=settings.complete_threshold,
        )

    def needs_voice(self, shape: Shape) -> bool:
        return shape in ("opener", "unclear")

    def wait_secs(self, shape: Shape, complete: float | None) -> float:
        """Silence past the last voice before the turn ends (the VAD's stop has passed already)."""
        if shape == "unfinished":
            return self.unfinished_secs
        if shape == "brief":
            return self.brief_secs
        if shape == "answer" or (complete is not None and complete >= self.complete_threshold):
            return self.answer_secs
        return self.hold_secs


@dataclass(frozen=True)
class Judgement:
    text: str
    shape: Shape
    complete: float | None  # Smart Turn's P(complete), where it was asked
    wait_secs: float
    asked_at: float  # time.monotonic() the judging began
    stt: Ran  # the transcript's wait for a worker and its run
    judged_at: float


@dataclass(frozen=True)
class TurnTiming:
    """Where a turn's end spent its time, in ms after the caller's last voice (as the VAD heard it).

    ``vad_behind_ms`` is how long after that audio arrived the VAD heard it: the
    part of the wait before the turn logic could know the caller had stopped.
    """

    shape: Shape
    vad_behind_ms: float | None
    asked_ms: float  # the transcript that ended the turn was asked for (a look-ahead: during the pause)
    queued_ms: float  # it waited for a worker
    stt_ms: float  # Whisper ran
    judged_ms: float  # transcript, the dialogue's draft and Smart Turn done
    ended_ms: float  # the turn ended: judged, and its shape's wait over

    @classmethod
    def of(cls, judged: Judgement, voice_at: float, vad_behind: float | None, ended_at: float) -> TurnTiming:
        def ms(at: float) -> float:
            return round((at - voice_at) * 1000, 1)

        return cls(
            shape=judged.shape,
            vad_behind_ms=None if vad_behind is None else round(vad_behind * 1000, 1),
            asked_ms=ms(judged.asked_at),
            queued_ms=round(judged.stt.queued_secs * 1000, 1),
            stt_ms=round(judged.stt.compute_secs * 1000, 1),
            judged_ms=ms(judged.judged_at),
            ended_ms=ms(ended_at),
        )


class TurnTranscriber(FrameProcessor):
    """Buffers the caller's audio per turn, transcribes and judges it during pauses, and ends the turn.

    Downstream sees one ``VADUserStartedSpeakingFrame`` when a turn starts and,
    when it ends, a ``VADUserStoppedSpeakingFrame`` whose ``stop_secs`` is the
    silence since the caller's last word, then the turn's ``TranscriptionFrame``.
    Pauses inside a turn are not passed on; a turn taken up again soon after it
    ended sends ``TurnResumedFrame`` instead of a new start, and its transcript
    is of the whole.
    """

    def __init__(
        self,
        *,
        decoder: Decoder,
        timings: Timings,
        voice: VoiceTrace,
        policy: TurnPolicy,
        queue: InferenceQueue,
        end_model: EndOfTurnModel | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._decoder = decoder
        self._timings = timings
        self._voice = voice
        self._policy = policy
        self._queue = queue
        self._end_model = end_model
        self._sample_rate = 16000
        self._audio = bytearray()
        self._voice_end = 0  # bytes of ``_audio`` up to the end of the last voice-like frame
        self._voice_seen = 0.0  # ``voice.last_voice`` as of the previous frame
        self._voice_behind: float | None = None  # how long after it arrived the VAD heard that voice
        self._windows_seen = 0  # ``voice.voiced_windows`` as of the previous frame
        self._burst: tuple[int, int] | None = None  # (bytes into ``_audio`` it began, windows before it) outside a turn
        self._missed: asyncio.Task | None = None  # asking Whisper whether a burst was a word the VAD missed
        self._in_turn = False
        self._look: asyncio.Task[Judgement] | None = None  # judging the turn up to a pause
        self._look_voice = 0.0  # the last voice-like frame before that pause
        self._ending: asyncio.Task | None = None  # from the VAD's stop to the end of the turn
        self._pause_started = 0.0
        self._ended_at: float | None = None  # the last turn's end, while it can still be taken up again
        self._hint: str | None = None  # what the last question makes likely, as Whisper's prompt
        self._expect: Expectation = _Unasked()
        self._turn = 0  # the current or last turn's number
        self._take = 0  # how many times it has ended
        self._heard_frames = 0

    async def setup(self, setup: FrameProcessorSetup):  # type: ignore[override]  # as FrameProcessor.setup
        await super().setup(setup)
        self._sample_rate = setup.audio_in_sample_rate

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)

        if isinstance(frame, InputAudioRawFrame):
            await self._hear(frame)
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            await self._on_speech_started(frame, direction)
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._on_speech_stopped(frame.stop_secs)
        elif isinstance(frame, ListeningFrame):
            self._hint = frame.hint or None
            self._expect = frame.expect or _Unasked()
        elif isinstance(frame, EndFrame):
            await self._end_now()
            await self.push_frame(frame, direction)
        elif isinstance(frame, CancelFrame):
            await self._drop(self._ending)
            await self._drop(self._look)
            await self._drop(self._missed)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _hear(self, frame: InputAudioRawFrame):
        self._audio += frame.audio
        self._heard_frames += 1
        if self._heard_frames % BEHIND_EVERY == 0 and RECEIVED in frame.metadata:
            self._timings.observe("audio_behind", time.monotonic() - frame.metadata[RECEIVED])
        (last_voice, windows), before = self._voice.as_of(frame.audio), self._voice_seen
        windows_before, self._windows_seen = self._windows_seen, windows
        voiced = last_voice != before
        if voiced:
            self._voice_seen = last_voice
            self._voice_end = len(self._audio)
            received = frame.metadata.get(RECEIVED)
            self._voice_behind = None if received is None else last_voice - received
        if not self._in_turn:
            if not self._resumable():
                self._listen_for_missed_words(len(frame.audio), windows_before, last_voice, before)
                self._forget_turn()
            return
        if self._ending is not None:
            return
        if self._look is not None and self._look_voice != last_voice:
            await self._drop(self._look)  # the caller went on: that look is stale
            self._look = None
        if self._look is None and time.monotonic() - last_voice >= self._policy.look_secs:
            self._look_voice = last_voice
            self._look = self.create_task(self._judge(self._heard(), Priority.AHEAD), "turn look")

    def _resumable(self) -> bool:
        if self._ended_at is not None and time.monotonic() - self._ended_at > self._policy.resume_secs:
            self._ended_at = None
        return self._ended_at is not None

    def _forget_turn(self):
        """Keep only the pre-roll (and a burst being listened to): the ended turn can no longer be taken up."""
        keep = int(PRE_ROLL_SECS * self._sample_rate) * 2
        if self._burst is not None:
            keep = max(keep, len(self._audio) - self._burst[0] + int(0.3 * self._sample_rate) * 2)
        if len(self._audio) > keep:
            cut = len(self._audio) - keep
            del self._audio[:cut]
            self._voice_end = max(0, self._voice_end - cut)
            if self._burst is not None:
                self._burst = (max(0, self._burst[0] - cut), self._burst[1])

    def _listen_for_missed_words(self, frame_bytes: int, windows_before: int, last_voice: float, voice_before: float):
        """A short answer ("Yes.", "No.") can be too brief for the VAD's start, yet plain to Whisper.

        Voice-like VAD windows outside a turn are counted (per window, so the
        same word counts the same in 20 ms frames or 40 ms ones); a burst of them
        followed by a pause is transcribed, and if Whisper hears words the turn is
        taken as if the VAD had started it. Noise it hears nothing in starts
        nothing (no barge-in).
        """
        now = time.monotonic()
        if last_voice != voice_before:
            if self._burst is None or last_voice - voice_before > BURST_GAP_SECS:
                lead = frame_bytes + int(BURST_LEAD_SECS * self._sample_rate) * 2
                self._burst = (max(0, len(self._audio) - lead), windows_before)
            return
        if self._burst is None or self._missed is not None:
            return
        if now - last_voice > BURST_GAP_SECS:
            self._burst = None
        elif self._windows_seen - self._burst[1] >= MISSED_WORD_WINDOWS and now - last_voice >= self._policy.look_secs:
            self._missed = self.create_task(self._take_missed_words(last_voice), "missed words")

    async def _take_missed_words(self, last_voice: float):
        try:
            samples = np.frombuffer(self._heard(), dtype=np.int16).astype(np.float32) / 32768.0
            text, _ = await self._transcribe(samples, Priority.AHEAD)
            if not text or self._in_turn or last_voice != self._voice_seen:
                return  # nothing said, the VAD took it up after all, or the caller is still going
            self._timings.observe("missed_words", 1.0)
            self._in_turn = True
            self._ended_at = None
            self._turn, self._take = self._turn + 1, 0
            await self.push_frame(VADUserStartedSpeakingFrame())
            self._pause_started = last_voice
            self._ending = self.create_task(self._end_after_pause(), "turn end")
        finally:
            self._missed = None
            self._burst = None

    def _heard(self) -> bytes:
        """The turn up to its last voice and a little of the pause: the same bytes however late it is taken."""
        end = self._voice_end + int(PAUSE_KEPT_SECS * self._sample_rate) * 2
        return bytes(self._audio[: min(end, len(self._audio))])

    async def _on_speech_started(self, frame: Frame, direction: FrameDirection):
        if self._ending is not None:
            # The caller went on while the turn's end was being judged or held open.
            self._timings.observe("turn_resumed_after", time.monotonic() - self._pause_started)
            await self._drop(self._ending)
            self._ending = None
            return
        if self._in_turn:
            return
        self._in_turn = True
        self._burst = None
        await self._drop(self._missed)
        if self._resumable():
            # The bot began answering a turn the caller had not finished: the same turn goes on.
            self._timings.observe("turn_taken_up_after", time.monotonic() - (self._ended_at or 0.0))
            self._ended_at = None
            await self.push_frame(TurnResumedFrame(turn=self._turn, take=self._take))
            return
        self._forget_turn()
        self._turn, self._take = self._turn + 1, 0
        await self.push_frame(frame, direction)

    def _on_speech_stopped(self, silence_secs: float):
        if not self._in_turn or self._ending is not None:
            return
        self._pause_started = max(time.monotonic() - silence_secs, self._voice.last_voice)
        self._ending = self.create_task(self._end_after_pause(), "turn end")

    async def _end_after_pause(self):
        look, self._look = self._look, None
        if look is not None and self._look_voice == self._voice_seen:
            self._queue.hurry(self)  # the look is this turn's end now: it goes before other calls' looks
            judged = await look
        else:
            await self._drop(look)
            judged = await self._judge(self._heard(), Priority.NOW)
        while (remaining := self._silence_from() + judged.wait_secs - time.monotonic()) > 0:
            await asyncio.sleep(remaining)
        self._ending = None
        voice_at, ended_at = self._silence_from(), time.monotonic()
        self._timings.observe(f"turn_wait_{judged.shape}", ended_at - voice_at)
        log.debug(
            "turn %d.%d ends: %s, %.0f ms after the last voice",
            self._turn,
            self._take + 1,
            judged.shape,
            (ended_at - voice_at) * 1000,
        )
        behind = self._voice_behind if voice_at == self._voice_seen else None  # a pause the VAD dated, not a voice
        await self._end_turn(judged.text, voice_at, TurnTiming.of(judged, voice_at, behind, ended_at))

    async def _judge(self, pcm: bytes, priority: Priority) -> Judgement:
        asked_at = time.monotonic()
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        text, ran = await self._transcribe(samples, priority)
        draft = await self._expect.draft(text) if text else Draft(answers=False)
        shape = shape_of(text, draft.answers)
        complete = None
        if self._end_model is not None and self._policy.needs_voice(shape):
            started = time.perf_counter()
            complete = await self._queue.run(
                priority, self._end_model.complete, samples, owner=self, label="smart_turn"
            )
            self._timings.observe("smart_turn", time.perf_counter() - started)
        if draft.reply and shape != "unfinished":
            await self.push_frame(PrepareSpeechFrame(texts=[draft.reply]))
        wait = self._policy.wait_secs(shape, complete)
        return Judgement(text, shape, complete, wait, asked_at, ran, time.monotonic())

    def _silence_from(self) -> float:
        """When the current silence began: the VAD's pause, or a voice-like sound heard since."""
        return max(self._pause_started, self._voice.last_voice)

    async def _end_now(self):
        """The stream is ending gracefully: what the caller said so far is still a turn."""
        if not self._in_turn:
            return
        last_word = self._silence_from() if self._ending is not None else time.monotonic()
        await self._drop(self._ending)
        await self._drop(self._look)
        self._ending = self._look = None
        samples = np.frombuffer(bytes(self._audio), dtype=np.int16).astype(np.float32) / 32768.0
        text, _ = await self._transcribe(samples, Priority.NOW)
        await self._end_turn(text, last_word)

    async def _end_turn(self, text: str, last_word: float, timing: TurnTiming | None = None):
        self._in_turn = False
        self._ended_at = time.monotonic()  # its audio stays until it can no longer be taken up
        self._take += 1
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=time.monotonic() - last_word))
        if text:
            await self.push_frame(
                TurnTranscriptionFrame(
                    text,
                    "",
                    time_now_iso8601(),
                    Language.EN,
                    finalized=True,
                    turn=self._turn,
                    take=self._take,
                    timing=timing,
                )
            )

    async def _drop(self, task: asyncio.Task | None):
        if task is not None and not task.done():
            await self.cancel_task(task)

    async def _transcribe(self, samples: np.ndarray, priority: Priority) -> tuple[str, Ran]:
        padded = np.concatenate([samples, np.zeros(int(TRAILING_SILENCE_SECS * self._sample_rate), np.float32)])
        started = time.perf_counter()
        pieces, ran = await self._queue.run_timed(
            priority, self._decoder.transcribe, padded, self._hint, owner=self, label="stt"
        )
        self._timings.observe("stt", time.perf_counter() - started)
        return " ".join(text for text, no_speech in pieces if no_speech < NO_SPEECH_PROB).strip(), ran
