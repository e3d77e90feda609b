"""What a caller heard: the bot's real audio transcribed back, and a forgiving comparison with a phrase.

Expectations are checked on what came down the line, not on the text the bot
meant to say, so a prompt that was cut off, garbled or silent fails. tiny.en
on 8 kHz audio writes "CAS-01234" as "case 0-1-2-3-4" and may hear "Carls" for
"Carlos": both sides are normalised (case, punctuation, number words, digit
groups) and compared with a fuzzy partial match.
"""

from __future__ import annotations

import re

import numpy as np
import soxr
from faster_whisper import WhisperModel
from rapidfuzz import fuzz

SAYS_THRESHOLD = 80  # partial-ratio score that tells a recogniser slip from a different sentence
NUMBER_WORDS = {w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())}
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+")
_DIGIT_RUN = re.compile(r"\b\d+(?:[\s-]+\d+)+\b")


def transcribe_8k(whisper: WhisperModel, pcm16: bytes | bytearray) -> str:
    """What Whisper hears in 8 kHz telephone audio (upsampled as the pipeline does).

    Leading and trailing line silence is trimmed and 0.3 s of quiet put back on
    each side, as a listener hears a prompt: Whisper drops the last word of audio
    that ends abruptly and wanders on long silences.
    """
    samples = np.frombuffer(bytes(pcm16), dtype=np.int16)
    loud = np.flatnonzero(np.abs(samples) > 300)
    if not loud.size:
        return ""
    samples = samples[max(loud[0] - 800, 0) : loud[-1] + 800]
    pad = np.zeros(2400, dtype=np.int16)
    audio = np.concatenate([pad, samples, pad]).astype(np.float32) / 32768.0
    audio = soxr.resample(audio, 8000, 16000)
    # A careful listener: greedy decoding misheard "... four: router" as "0123 for router"
    # in 7 of 60 syntheses, beam search in none, for about 1.5x the time.
    segments, _ = whisper.transcribe(audio, language="en", beam_size=5, condition_on_previous_text=False)
    return " ".join(s.text.strip() for s in segments).strip()


def normalise(text: str) -> str:
    """Lower case, words and digits only, number words as digits, '0 1 2' and '0-1-2' as '012'."""
    words = [NUMBER_WORDS.get(w, w) for w in _WORD.findall(text.lower())]
    joined = " ".join(words)
    return _DIGIT_RUN.sub(lambda m: re.sub(r"[\s-]+", "", m.group()), joined)


def spoken_digits(text: str) -> str:
    """The digits a listener would write down: '0-1-2' and 'zero one two' both give '012'."""
    return "".join(ch for ch in normalise(text) if ch.isdigit())


def says(heard: str, phrase: str, threshold: int = SAYS_THRESHOLD) -> bool:
    """Whether ``heard`` contains ``phrase``, allowing for recogniser slips."""
    return fuzz.partial_ratio(normalise(phrase), normalise(heard)) >= threshold


def matches(heard: str, pattern: str) -> bool:
    """A regular expression, searched case-insensitively in the transcript as heard or normalised."""
    return any(re.search(pattern, text, re.IGNORECASE) for text in (heard, normalise(heard)))
