"""Word error rate of the speech-to-text path on telephone speech.

The labelled set is text written by hand (the router's phrasings in
``tests/data/phrasings.tsv`` and longer caller sentences in
``benchmarks/data/caller_sentences.txt``), spoken by the bundled Piper voice at
the caller settings, then sent down a phone line: 8 kHz, 300-3400 Hz, mu-law
both ways, optionally with line hiss. Synthetic speech is cleaner than callers
are, so these rates are a floor and a comparison between decoders, not a
prediction for live traffic.
"""

from __future__ import annotations

import audioop
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from voicebot.pipeline.stt import FullWindowDecoder
from voicebot.pipeline.tts import Voice
from voicebot.scenarios.hearing import NUMBER_WORDS
from voicebot.scenarios.line import LineNoise, band_limit

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower case, punctuation gone, number words as digits: the units WER counts."""
    return [NUMBER_WORDS.get(w, w) for w in _WORD.findall(text.lower().replace("-", " "))]


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def load_texts(root: Path) -> list[str]:
    phrasings = [
        line.split("\t")[1].strip()
        for line in (root / "tests/data/phrasings.tsv").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    sentences = [
        line.strip()
        for line in (root / "benchmarks/data/caller_sentences.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return sentences + phrasings


def over_the_phone(pcm16_8k: bytes, noise_dbfs: float | None) -> np.ndarray:
    """What the server decodes: band-limited, mu-law there and back, at 16 kHz float as the pipeline feeds it."""
    line = band_limit(pcm16_8k)
    if noise_dbfs is not None:
        line = LineNoise(noise_dbfs, band_limited=True, seed=len(line)).mix(line)
    line = audioop.ulaw2lin(audioop.lin2ulaw(line, 2), 2)
    samples = np.frombuffer(line, dtype=np.int16).astype(np.float32) / 32768.0
    quiet = np.zeros(4000, dtype=np.float32)  # the VAD's lead-in and stop time around the speech
    return soxr.resample(np.concatenate([quiet, samples, quiet]), 8000, 16000)


@dataclass
class WERResult:
    decoder: str
    utterances: int
    words: int
    errors: int
    seconds: list[float]

    @property
    def wer(self) -> float:
        return self.errors / self.words


def measure(decoders: dict[str, FullWindowDecoder], voice: Voice, texts: list[str], noise_dbfs: float | None = None):
    """Every decoder on the same audio; returns one result per decoder and the transcripts that differ."""
    results = {name: WERResult(name, 0, 0, 0, []) for name in decoders}
    mistakes: list[tuple[str, str, str]] = []
    for text in texts:
        audio = over_the_phone(voice.synthesize(text), noise_dbfs)
        reference = words(text)
        for name, decoder in decoders.items():
            started = time.perf_counter()
            heard = " ".join(t for t, _ in decoder.transcribe(audio))
            result = results[name]
            result.seconds.append(time.perf_counter() - started)
            errors = edit_distance(reference, words(heard))
            result.utterances += 1
            result.words += len(reference)
            result.errors += errors
            if errors:
                mistakes.append((name, text, heard))
    return list(results.values()), mistakes
