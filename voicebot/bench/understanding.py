"""How well the bot understands callers, from text and from speech heard through a phone line.

The labelled answers live in ``benchmarks/data/intents/``: a development part
to tune on and a sealed test part to measure on (see their headers). From
speech, each answer is spoken by several caller voices (the bundled Piper voice
at several lengths and noise settings, espeak-ng accents at several speeds),
sent down the telephone line the scenario runner models (8 kHz, 300-3400 Hz,
mu-law, hiss), transcribed by the default STT path and routed.
"""

from __future__ import annotations

import io
import subprocess
import time
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr

from voicebot.bench.wer import edit_distance, over_the_phone, words
from voicebot.intents import NONE, Calibration, IntentRouter, IntentTable, SemanticMatcher, normalize
from voicebot.intents.semantic import shared_embedder
from voicebot.pipeline.tts import Voice, default_voice_path

RATE = 8000


@dataclass(frozen=True, slots=True)
class Labelled:
    intent: str  # NONE for out of scope
    text: str


def load_labelled(path: Path) -> list[Labelled]:
    rows = []
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            intent, text = line.split("\t")
            rows.append(Labelled(intent.strip(), text.strip()))
    return rows


@dataclass
class Outcome:
    said: Labelled
    heard: str
    got: str  # NONE when not understood
    confidence: float

    @property
    def right(self) -> bool:
        return self.got == self.said.intent


@dataclass
class Score:
    """Accuracy over every answer, and its two halves: in-scope answers understood, out-of-scope refused."""

    name: str
    outcomes: list[Outcome] = field(default_factory=list)
    word_errors: int = 0
    words: int = 0
    stt_seconds: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return sum(o.right for o in self.outcomes) / max(len(self.outcomes), 1)

    @property
    def in_scope(self) -> float:
        rows = [o for o in self.outcomes if o.said.intent != NONE]
        return sum(o.right for o in rows) / max(len(rows), 1)

    @property
    def out_of_scope_refused(self) -> float:
        rows = [o for o in self.outcomes if o.said.intent == NONE]
        return sum(o.right for o in rows) / max(len(rows), 1)

    @property
    def wer(self) -> float:
        return self.word_errors / max(self.words, 1)

    @property
    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.right]


def route(router: IntentRouter, said: Labelled, heard: str) -> Outcome:
    match = router.route(heard)
    return Outcome(said, heard, match.intent or NONE, match.confidence)


def menu_hint(router: IntentRouter) -> str:
    """The recogniser's hint after the greeting, as a call gives it: a known caller, her case, the menu."""
    from voicebot.bench.turn_end import demo_flow

    return demo_flow(router).hint()


def score_text(router: IntentRouter, rows: Sequence[Labelled], name: str = "text") -> Score:
    return Score(name, [route(router, row, row.text) for row in rows])


# -- caller voices -------------------------------------------------------------


@dataclass(frozen=True)
class CallerVoice:
    """One way of saying the answers: a synthesiser, its settings, and the line it is heard through."""

    name: str
    speak: Callable[[str], bytes]  # text -> 16-bit PCM at 8 kHz
    noise_dbfs: float | None = -45.0

    def synthesize(self, text: str) -> bytes:
        """As a scenario caller speaks (:class:`~voicebot.scenarios.line.Speaker`)."""
        return self.speak(text)


class PiperCaller:
    def __init__(self, length_scale: float, noise_scale: float, noise_w_scale: float | None = None):
        self._voice = Voice(
            default_voice_path(),
            length_scale=length_scale,
            noise_scale=noise_scale,
            noise_w_scale=noise_w_scale,
            sample_rate=RATE,
            cache_size=0,
        )

    def __call__(self, text: str) -> bytes:
        return self._voice.synthesize(text)


@dataclass(frozen=True)
class EspeakCaller:
    """espeak-ng (Debian's package): formant voices in several accents, unlike any voice the bot was tuned on."""

    voice: str
    speed: int  # words a minute

    def __call__(self, text: str) -> bytes:
        wav = subprocess.run(
            ["espeak-ng", "-v", self.voice, "-s", str(self.speed), "--stdout", text],
            capture_output=True,
            check=True,
        ).stdout
        with wave.open(io.BytesIO(wav)) as w:
            rate, pcm = w.getframerate(), w.readframes(w.getnframes())
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
        resampled = soxr.resample(samples, rate, RATE)
        return np.clip(resampled, -32768, 32767).astype(np.int16).tobytes()


def caller_voices() -> list[CallerVoice]:
    """Four Piper deliveries and six espeak-ng accents and speeds, each with its own line noise."""
    return [
        CallerVoice("piper-1.0", PiperCaller(1.0, 0.667), -45.0),
        CallerVoice("piper-1.2-varied", PiperCaller(1.2, 0.8), -40.0),
        CallerVoice("piper-0.85-fast", PiperCaller(0.85, 0.5), -45.0),
        CallerVoice("piper-1.4-slow", PiperCaller(1.4, 1.0), None),
        CallerVoice("espeak-en-us-175", EspeakCaller("en-us", 175), -45.0),
        CallerVoice("espeak-en-gb-150", EspeakCaller("en-gb", 150), -40.0),
        CallerVoice("espeak-en-gb-x-rp-190", EspeakCaller("en-gb-x-rp", 190), -45.0),
        CallerVoice("espeak-en-029-160", EspeakCaller("en-029", 160), -45.0),
        CallerVoice("espeak-en-gb-scotland-140", EspeakCaller("en-gb-scotland", 140), None),
        CallerVoice("espeak-en-us-nyc-210", EspeakCaller("en-us-nyc", 210), -40.0),
    ]


Transcribe = Callable[[np.ndarray], str]


def score_speech(router: IntentRouter, rows: Sequence[Labelled], voice: CallerVoice, transcribe: Transcribe) -> Score:
    score = Score(voice.name)
    for row in rows:
        audio = over_the_phone(voice.speak(row.text), voice.noise_dbfs)
        started = time.perf_counter()
        heard = transcribe(audio)
        score.stt_seconds.append(time.perf_counter() - started)
        score.outcomes.append(route(router, row, heard))
        reference = words(row.text)
        score.words += len(reference)
        score.word_errors += edit_distance(reference, words(heard))
    return score


def pooled(name: str, scores: Sequence[Score]) -> Score:
    total = Score(name)
    for s in scores:
        total.outcomes += s.outcomes
        total.word_errors += s.word_errors
        total.words += s.words
        total.stt_seconds += s.stt_seconds
    return total


# -- calibration (development part only) ---------------------------------------


def folds(rows: Sequence[Labelled], count: int = 5) -> Iterator[tuple[IntentRouter, Sequence[Labelled]]]:
    """Each fold of ``rows`` with a router trained on the bundled table plus the other folds, never on it.

    The development answers are also the router's examples (``data/answers.tsv``),
    so scoring one with the shipped router would ask it about its own examples.
    """
    base = IntentTable.load(answers=False)
    embedder = shared_embedder("use-multilingual-v3")
    for fold in range(count):
        table = base.plus([(r.intent, r.text) for j, r in enumerate(rows) if j % count != fold])
        yield IntentRouter(table, semantic=SemanticMatcher(table, embedder)), rows[fold::count]


def fit_calibration(rows: Sequence[Labelled], count: int = 5) -> Calibration:
    """Logistic curve of "the best intent is right" against its blended score, on held-out answers (Newton)."""
    xs, ys = [], []
    for router, held in folds(rows, count):
        for row in held:
            blend = router.blend(row.text, normalize(row.text))
            best = max(blend, key=blend.__getitem__)
            xs.append(blend[best])
            ys.append(float(row.intent == best))
    x = np.array(xs)
    y = np.array(ys)
    a, b = 1.0, 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(a * x + b)))
        w = p * (1 - p) + 1e-9
        grad = np.array([np.sum((p - y) * x), np.sum(p - y)])
        hess = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-6 * np.eye(2)
        a, b = np.array([a, b]) - np.linalg.solve(hess, grad)
    return Calibration(round(float(a), 2), round(float(b), 2))


def held_out(rows: Sequence[Labelled], count: int = 5) -> Score:
    """Accuracy on development answers, each routed by a router that was not trained on it."""
    score = Score(f"held out ({count}-fold)")
    for router, held in folds(rows, count):
        score.outcomes += [route(router, row, row.text) for row in held]
    return score


def expected_calibration_error(outcomes: Sequence[Outcome], bins: int = 5) -> float:
    """How far stated confidence is from observed accuracy, over answers the router claimed to understand."""
    claimed = [o for o in outcomes if o.got != NONE]
    total = 0.0
    for k in range(bins):
        low, high = k / bins, (k + 1) / bins
        inside = [o for o in claimed if low <= o.confidence < high or (k == bins - 1 and o.confidence == 1.0)]
        if inside:
            gap = abs(np.mean([o.confidence for o in inside]) - np.mean([o.right for o in inside]))
            total += float(gap) * len(inside) / max(len(claimed), 1)
    return total
