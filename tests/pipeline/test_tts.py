"""The bot's voice: Piper's audio unchanged, each sentence synthesised once, and a said sentence never kept waiting."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soxr
from pipecat.frames.frames import TTSAudioRawFrame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import run_test

from voicebot.dialogue import FIXED_PROMPTS
from voicebot.pipeline.frames import PrepareSpeechFrame, SpeakFrame
from voicebot.pipeline.inference import InferenceQueue, Priority
from voicebot.pipeline.speech_text import speakable, split_sentences
from voicebot.pipeline.tts import PiperSpeaker, Renders, Voice, _without_lead_in, default_voice_path, render_ahead
from voicebot.server.metrics import Timings

SENTENCES = [
    "Hi Maria, thanks for calling.",
    "Your latest case is C A S, zero, seven, one, zero, zero.",
    "Would you like to speak to an agent, or are you all set?",
    "Thanks for calling. Goodbye.",
]


@pytest.fixture(scope="module")
def steady() -> Voice:
    """Without Piper's random noise, so the same text is the same audio every time."""
    return Voice(default_voice_path(), noise_scale=0.0, noise_w_scale=0.0, cache_size=0)


def test_the_audio_is_what_piper_itself_renders_at_the_telephone_rate(steady):
    piper = steady._voice
    for text in SENTENCES:
        rendered = np.concatenate([c.audio_int16_array for c in piper.synthesize(text, steady._config)])
        at_8k = np.asarray(soxr.resample(rendered, piper.config.sample_rate, 8000), dtype=np.int16)
        assert steady.synthesize(text) == _without_lead_in(at_8k, 8000).tobytes()


def test_sentences_rendered_on_several_threads_are_the_same_as_one_after_another(steady):
    alone = [steady.synthesize(text) for text in SENTENCES]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(steady.synthesize, SENTENCES * 3))
    assert together == alone * 3


def test_a_sentence_is_synthesised_once_and_then_had_from_the_cache():
    voice = Voice(default_voice_path(), cache_size=2)
    assert voice.cached("Goodbye.") is None
    first = voice.synthesize("Goodbye.")
    assert voice.cached("Goodbye.") is first
    assert voice.synthesize("Goodbye.") is first  # Piper's noise would make a second render differ
    voice.synthesize("Hello.")
    voice.synthesize("Status.")
    assert voice.cached("Goodbye.") is None  # the oldest of more than cache_size goes


async def test_a_sentence_said_before_is_spoken_while_the_cpu_is_busy_with_other_callers():
    """With every inference worker taken (other callers' transcriptions), a cached prompt still goes out at once."""
    voice = Voice(default_voice_path(), cache_size=8)
    voice.synthesize("Would you like to speak to an agent, or are you all set?")
    queue = InferenceQueue(workers=1)
    release = threading.Event()
    busy = asyncio.ensure_future(queue.run(Priority.NOW, release.wait, 30))
    await asyncio.sleep(0.05)
    speaker = PiperSpeaker(Renders(voice, queue), lambda mark: {"mark": mark}, Timings())
    pushed: list = []

    async def keep(frame, direction=FrameDirection.DOWNSTREAM):
        pushed.append(frame)

    speaker.push_frame = keep  # the frames it would send on down the pipeline
    try:
        await asyncio.wait_for(
            speaker._speak(SpeakFrame("Would you like to speak to an agent, or are you all set?")), timeout=2
        )
        assert any(isinstance(f, TTSAudioRawFrame) for f in pushed)
        spoken = asyncio.ensure_future(speaker._speak(SpeakFrame("A sentence nobody said before.")))
        await asyncio.sleep(0.3)
        assert not spoken.done()  # a new sentence waits for the CPU like everything else
    finally:
        release.set()
        await busy
    await asyncio.wait_for(spoken, timeout=10)
    queue.close()


async def test_a_render_made_ahead_for_a_call_that_ends_is_dropped_from_the_queue():
    """Other calls still going would otherwise wait behind speech nobody will hear."""
    voice = Voice(default_voice_path(), cache_size=8)
    queue = InferenceQueue(workers=1)
    release = threading.Event()
    busy = asyncio.ensure_future(queue.run(Priority.NOW, release.wait, 30))
    await asyncio.sleep(0.05)
    speaker = PiperSpeaker(Renders(voice, queue), lambda mark: {"mark": mark}, Timings())
    try:  # the call ends while the render waits for the worker
        await run_test(speaker, frames_to_send=[PrepareSpeechFrame(texts=["A reply the caller never asks for."])])
    finally:
        release.set()
        await busy
    await queue.run(Priority.SPARE, lambda: None)  # everything queued before has run or been dropped
    assert voice.cached("A reply the caller never asks for.") is None
    queue.close()


def test_a_kept_sentence_stays_however_many_others_are_said():
    voice = Voice(default_voice_path(), cache_size=2)
    menu = voice.keep("Would you like an agent?")
    for text in ("Hello.", "Status.", "Goodbye."):
        voice.synthesize(text)
    assert voice.cached("Would you like an agent?") is menu
    assert voice.cached("Hello.") is None  # a caller's own sentences still come and go


async def test_the_prompts_every_caller_hears_are_rendered_before_any_call():
    voice = Voice(default_voice_path(), cache_size=0)
    queue = InferenceQueue(workers=2)
    prompts = ["Sorry, I didn't get that. Would you like an agent?", "Would you like an agent? Goodbye."]
    assert await render_ahead(voice, queue, prompts) == 3  # each sentence once
    for sentence in ("Sorry, I didn't get that.", "Would you like an agent?", "Goodbye."):
        assert voice.cached(sentence) is not None
    assert await render_ahead(voice, queue, prompts) == 0
    queue.close()


def test_every_fixed_prompt_of_the_dialogue_is_one_a_caller_can_hear():
    """The dialogue's fixed prompts, said as sentences: what the server renders at start-up."""
    sentences = {s for prompt in FIXED_PROMPTS for s in split_sentences(speakable(prompt))}
    assert {"Would you like to speak to an agent, or are you all set?", "Sure.", "One moment please."} <= sentences
    assert not any("{" in s or "Hi " in s for s in sentences)  # nothing of one caller's own


@contextlib.asynccontextmanager
async def renders_behind_a_busy_worker(timings: Timings | None = None):
    """Renders on a one-worker queue that another call's work holds until the block ends."""
    queue = InferenceQueue(workers=1, timings=timings)
    release = threading.Event()
    busy = asyncio.ensure_future(queue.run(Priority.NOW, release.wait, 30))
    await asyncio.sleep(0.05)
    try:
        yield Renders(Voice(default_voice_path(), cache_size=8), queue)
        await asyncio.sleep(0.05)  # what the block asked for is in the queue
    finally:
        release.set()
        await busy


async def test_calls_needing_one_sentence_at_once_share_one_render():
    timings = Timings()
    async with renders_behind_a_busy_worker(timings) as renders:
        first = asyncio.ensure_future(renders.render("Thanks for calling, Tom.", Priority.NOW))
        second = asyncio.ensure_future(renders.render("Thanks for calling, Tom.", Priority.NOW))
    assert await first == await second != b""
    assert timings.summary()["tts_compute"]["count"] == 1 and renders.in_flight() == 0


async def test_a_sentence_rendered_ahead_goes_first_once_a_caller_waits_for_it():
    rendered_before_look: list[bool] = []
    async with renders_behind_a_busy_worker() as renders:

        def look() -> None:  # another caller's look-ahead, queued before this caller came to wait
            rendered_before_look.append(renders.voice.cached("Case 42 is open.") is not None)

        ahead = asyncio.ensure_future(renders.render("Case 42 is open.", Priority.SPARE))
        looked = asyncio.ensure_future(renders.queue.run(Priority.AHEAD, look))
        now = asyncio.ensure_future(renders.render("Case 42 is open.", Priority.NOW))
    await asyncio.gather(ahead, looked, now)
    assert rendered_before_look == [True]  # a look-ahead no longer goes before it


async def test_a_shared_render_goes_on_for_the_call_still_waiting_when_the_other_ends():
    async with renders_behind_a_busy_worker() as renders:
        ended = asyncio.ensure_future(renders.render("Your order shipped.", Priority.SPARE))
        going_on = asyncio.ensure_future(renders.render("Your order shipped.", Priority.NOW))
        await asyncio.sleep(0.05)
        ended.cancel()  # that call hung up
    assert await going_on == renders.voice.cached("Your order shipped.") != b""
