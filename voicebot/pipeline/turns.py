"""Where a caller's turn ends, with its transcript ready when it does.

The VAD ends a turn after ``vad.stop_secs`` of silence. Transcribing only then
puts Whisper's time on top of that wait, so the turn so far is transcribed as
soon as the caller has been quiet for ``turn.look_secs``; when the VAD's stop
comes, the transcript is usually there already, and the reply waits for the
silence alone. If the caller goes on, the look is dropped and the next one
covers the whole turn.

The transcript can also hold a turn open: one that trails off ("I'm calling
about my...", "... and") waits until ``turn.unfinished_secs`` of silence before
it is taken as the whole turn. Silence is counted from the last voice-like frame
the VAD heard, so a caller who goes on holds the turn open before the VAD has
confirmed the new speech. Shorter stop times answer sooner but cut callers off
at commas; docs/benchmarks.md measures both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor, FrameProcessorSetup
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from voicebot.metrics import Timings
from voicebot.pipeline.frames import HintFrame
from voicebot.pipeline.stt import Decoder

PRE_ROLL_SECS = 1.0  # audio kept from before the VAD noticed speech (it needs ``vad.start_secs`` of it)
TRAILING_SILENCE_SECS = 0.5  # Whisper drops or garbles a last word that ends the audio abruptly
NO_SPEECH_PROB = 0.6  # segments Whisper itself thinks are not speech are dropped

# A sentence that ends on one of these is going somewhere: "I want to talk to...", "my order and".
TRAILING_WORDS = frozenset(
    """a an the and or but so because if than then to of for from with about at in on by into as
    my your our their his her its is are was were am be been i i'm that's there's um uh er erm like""".split()
)


def sounds_finished(text: str) -> bool:
    """Whether a transcript reads as a whole turn: it ends a sentence, and not on a word that leads on.

    Whisper writes what trails off with an ellipsis or no stop at all. A comma
    pause still reads as finished ("No thanks."), so the text only ever holds a
    turn open longer than the VAD's stop, never ends one sooner.
    """
    text = text.strip()
    if not text:
        return True  # nothing to wait for: noise, or a cough
    if text.endswith("?"):
        return True  # asked with a question's fall or rise: "Can you repeat that?"
    if text.endswith(("...", "\u2026")) or not text.endswith((".", "!")):
        return False
    last = text.split()[-1].strip(".?!\"'").lower()
    return last not in TRAILING_WORDS


class TurnTranscriber(FrameProcessor):
    """Buffers the caller's audio per turn, transcribes it ahead of the turn's end, and ends the turn.

    Downstream sees one ``VADUserStartedSpeakingFrame`` when a turn starts and,
    when it ends, a ``VADUserStoppedSpeakingFrame`` whose ``stop_secs`` is the
    silence since the caller's last word, then the turn's ``TranscriptionFrame``.
    Pauses inside a turn are not passed on.
    """

    def __init__(
        self,
        *,
        decoder: Decoder,
        timings: Timings,
        last_voice: Callable[[], float],
        look_secs: float,
        unfinished_secs: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._decoder = decoder
        self._timings = timings
        self._last_voice = last_voice
        self._look_secs = look_secs
        self._unfinished_secs = unfinished_secs
        self._sample_rate = 16000
        self._audio = bytearray()
        self._in_turn = False
        self._look: asyncio.Task[str] | None = None  # transcribing the turn up to a pause
        self._look_voice = 0.0  # the last voice-like frame before that pause
        self._ending: asyncio.Task | None = None  # from the VAD's stop to the end of the turn
        self._pause_started = 0.0
        self._hint: str | None = None  # what the last question makes likely, as Whisper's prompt

    async def setup(self, setup: FrameProcessorSetup):
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
        elif isinstance(frame, HintFrame):
            self._hint = frame.text or None
        elif isinstance(frame, EndFrame):
            await self._end_now()
            await self.push_frame(frame, direction)
        elif isinstance(frame, CancelFrame):
            await self._drop(self._ending)
            await self._drop(self._look)
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _hear(self, frame: InputAudioRawFrame):
        self._audio += frame.audio
        if not self._in_turn:
            keep = int(PRE_ROLL_SECS * self._sample_rate) * 2
            if len(self._audio) > keep:
                del self._audio[: len(self._audio) - keep]
            return
        if self._ending is not None:
            return
        last_voice = self._last_voice()
        if self._look is not None and self._look_voice != last_voice:
            await self._drop(self._look)  # the caller went on: that look is stale
            self._look = None
        if self._look is None and time.monotonic() - last_voice >= self._look_secs:
            self._look_voice = last_voice
            self._look = self.create_task(self._transcribe(bytes(self._audio)), "turn look")

    async def _on_speech_started(self, frame: Frame, direction: FrameDirection):
        if self._ending is not None:
            # The caller went on while an unfinished-sounding turn was held open.
            self._timings.observe("turn_resumed_after", time.monotonic() - self._pause_started)
            await self._drop(self._ending)
            self._ending = None
            return
        if not self._in_turn:
            self._in_turn = True
            await self.push_frame(frame, direction)

    def _on_speech_stopped(self, silence_secs: float):
        if not self._in_turn or self._ending is not None:
            return
        self._pause_started = max(time.monotonic() - silence_secs, self._last_voice())
        self._ending = self.create_task(self._end_after_pause(), "turn end")

    async def _end_after_pause(self):
        look, self._look = self._look, None
        if look is not None and self._look_voice == self._last_voice():
            text = await look
        else:
            await self._drop(look)
            text = await self._transcribe(bytes(self._audio))
        if not sounds_finished(text):
            while (remaining := self._silence_from() + self._unfinished_secs - time.monotonic()) > 0:
                await asyncio.sleep(remaining)
        self._ending = None
        await self._end_turn(text, self._silence_from())

    def _silence_from(self) -> float:
        """When the current silence began: the VAD's pause, or a voice-like sound heard since."""
        return max(self._pause_started, self._last_voice())

    async def _end_now(self):
        """The stream is ending gracefully: what the caller said so far is still a turn."""
        if not self._in_turn:
            return
        last_word = self._silence_from() if self._ending is not None else time.monotonic()
        await self._drop(self._ending)
        await self._drop(self._look)
        self._ending = self._look = None
        text = await self._transcribe(bytes(self._audio))
        await self._end_turn(text, last_word)

    async def _end_turn(self, text: str, last_word: float):
        self._in_turn = False
        self._audio.clear()
        await self.push_frame(VADUserStoppedSpeakingFrame(stop_secs=time.monotonic() - last_word))
        if text:
            await self.push_frame(TranscriptionFrame(text, "", time_now_iso8601(), Language.EN, finalized=True))

    async def _drop(self, task: asyncio.Task | None):
        if task is not None and not task.done():
            await self.cancel_task(task)

    async def _transcribe(self, pcm: bytes) -> str:
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
        samples = np.concatenate([samples, np.zeros(int(TRAILING_SILENCE_SECS * self._sample_rate), np.float32)])
        started = time.perf_counter()
        pieces = await asyncio.to_thread(self._decoder.transcribe, samples, self._hint)
        self._timings.observe("stt", time.perf_counter() - started)
        return " ".join(text for text, no_speech in pieces if no_speech < NO_SPEECH_PROB).strip()
