"""How often an end-of-turn policy cuts a caller off, and how long it makes them wait, on the audio's clock.

Each rendering of the material (``benchmarks/data/turns``: short answers,
sentences, halves with a pause between) goes down the phone line once, through
the real VAD (Silero), Whisper with the menu's hint, the dialogue (what it would
do at the menu for the demo customer) and Smart Turn; every pause of at least
``turn.look_secs`` gets the judgement the call would make of it. Policies are
then applied to those judgements:

- a pause ends the turn once its silence outlasts the VAD's stop and the
  policy's wait for that judgement;
- a pause inside the turn that ends it is a cut-off; the bar in the material is
  tried at several pause lengths (the rendering carries a long one, and the
  judgement at a pause does not depend on how long it lasts);
- at the end, the wait past the caller's last loud sample is the floor of the
  reply latency (add the transcript and the first audio for the latency at the caller).
"""

from __future__ import annotations

import asyncio
import audioop
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soxr
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voicebot.config import DialogueSettings
from voicebot.dialogue import CallFlow
from voicebot.intents import IntentRouter
from voicebot.pipeline.smart_turn import EndOfTurnModel
from voicebot.pipeline.stt import Decoder
from voicebot.pipeline.turns import PAUSE_KEPT_SECS, TRAILING_SILENCE_SECS, Shape, TurnPolicy, shape_of
from voicebot.scenarios.line import LineNoise, band_limit
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import Case, Customer
from voicebot.tools.lookup import CallerContext

RATE = 16000
CHUNK = 512  # Silero's window at 16 kHz
CHUNK_SECS = CHUNK / RATE
BAR_SECS = 1.6  # the pause rendered at the bar: longer than any wait tried
LEAD_SECS, TAIL_SECS = 0.5, 2.0


@dataclass(frozen=True)
class Material:
    kind: str  # short | sentence | paused
    text: str  # "first half | rest" for paused

    @property
    def pieces(self) -> list[str]:
        return [p.strip() for p in self.text.split("|")]


def load_material(path: Path) -> list[Material]:
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("kind\t"):
            continue
        kind, text = line.split("\t", 1)
        rows.append(Material(kind.strip(), text.strip()))
    return rows


@dataclass
class Pause:
    silence_from: float  # end of the last voiced window before it (secs into the audio)
    gap: float | None  # silence until the voice comes back; None at the end
    at_bar: bool  # the pause the material asks for (its length is what the bench varies)
    stop_after: float | None  # the VAD's stop, secs after ``silence_from``; None: it never stopped
    text: str = ""
    answers: bool = False  # the dialogue would act on ``text``
    complete: float | None = None

    @property
    def shape(self) -> Shape:
        return shape_of(self.text, self.answers)


@dataclass
class Rendering:
    material: Material
    voice: str
    speech_end: float  # the last loud sample
    pauses: list[Pause] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    cut_off: bool
    wait_secs: float | None  # last loud sample -> end of turn; None when cut off


def demo_flow(router: IntentRouter) -> CallFlow:
    """The dialogue at the menu for the demo customer with an open case, as the bench's calls hear it."""
    jane = Customer("cust-jane", "Jane Doe", "Jane")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    case = Case("case-1", "CAS-01234", "Router keeps dropping the connection", "In progress", "cust-jane", now, now)
    return CallFlow(CallerContext(normalize_ani("+14155552671"), jane, case, 1), router, DialogueSettings())


@dataclass
class Spoken:
    samples: np.ndarray  # as the server hears it, at 16 kHz
    bars: list[float]  # where each bar's pause starts (secs)
    speech_end: float  # the last loud sample, before the line added its hiss


def render(material: Material, speak: Callable[[str], bytes], noise_dbfs: float | None) -> Spoken:
    """The material spoken down the line, its pieces trimmed to their sound and joined by long pauses."""
    pieces = []
    for text in material.pieces:
        pcm = np.frombuffer(speak(text), np.int16)
        loud = np.flatnonzero(np.abs(pcm) > 300)
        pieces.append(pcm[loud[0] : loud[-1] + 1] if loud.size else pcm)
    lead, bar, tail = (np.zeros(int(s * 8000), np.int16) for s in (LEAD_SECS, BAR_SECS, TAIL_SECS))
    joined, bars = [lead], []
    for n, pcm in enumerate(pieces):
        if n:
            bars.append(sum(len(p) for p in joined) / 8000)
            joined.append(bar)
        joined.append(pcm)
    speech_end = sum(len(p) for p in joined) / 8000
    line = band_limit(np.concatenate([*joined, tail]).tobytes())
    if noise_dbfs is not None:
        line = LineNoise(noise_dbfs, band_limited=True, seed=len(line)).mix(line)
    line = audioop.ulaw2lin(audioop.lin2ulaw(line, 2), 2)
    samples = np.frombuffer(line, dtype=np.int16).astype(np.float32) / 32768.0
    return Spoken(soxr.resample(samples, 8000, RATE), bars, speech_end)


class _Recording(SileroVADAnalyzer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.confidences: list[float] = []

    def voice_confidence(self, buffer: bytes) -> float:
        confidence = float(np.ravel(super().voice_confidence(buffer))[0])
        self.confidences.append(confidence)
        return confidence


async def _vad(samples: np.ndarray, params: VADParams) -> tuple[list[float], list[float]]:
    """The VAD's stop events (secs) and each window's confidence."""
    analyzer = _Recording(sample_rate=RATE, params=params)
    analyzer.set_sample_rate(RATE)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    state, stops = VADState.QUIET, []
    for n in range(len(pcm) // CHUNK):
        new = await analyzer.analyze_audio(pcm[n * CHUNK : (n + 1) * CHUNK].tobytes())
        if new == VADState.QUIET and state in (VADState.SPEAKING, VADState.STOPPING):
            stops.append((n + 1) * CHUNK_SECS)
        if new in (VADState.QUIET, VADState.SPEAKING):
            state = new
    await analyzer.cleanup()
    return stops, analyzer.confidences


@dataclass
class Judge:
    """What the call does at a pause: Whisper with the hint, the dialogue's draft, Smart Turn."""

    decoder: Decoder
    flow: CallFlow
    end_model: EndOfTurnModel
    vad: VADParams
    look_secs: float
    kept_secs: float = PAUSE_KEPT_SECS  # of the pause, heard with the turn (less when the look comes sooner)

    def analyse(self, material: Material, voice: str, spoken: Spoken) -> Rendering:
        samples, bars = spoken.samples, spoken.bars
        rendering = Rendering(material, voice, speech_end=spoken.speech_end)
        stops, confidences = asyncio.run(_vad(samples, self.vad))
        voiced = [(n + 1) * CHUNK_SECS for n, c in enumerate(confidences) if c >= self.vad.confidence]
        if not voiced:
            return rendering  # the VAD heard nothing: the call would take no turn (summarise counts it unheard)
        hint = self.flow.hint()
        for last, following in zip(voiced, [*voiced[1:], None], strict=True):
            if following is not None and following - last - CHUNK_SECS < self.look_secs:
                continue
            again = None if following is None else following - CHUNK_SECS
            stop = next((s for s in stops if s >= last and (again is None or s < again)), None)
            pause = Pause(
                silence_from=last,
                gap=None if again is None else again - last,
                at_bar=again is not None and any(last - 0.3 <= b <= again for b in bars),
                stop_after=None if stop is None else stop - last,
            )
            clip = samples[: int((last + self.kept_secs) * RATE)]
            padded = np.concatenate([clip, np.zeros(int(TRAILING_SILENCE_SECS * RATE), np.float32)])
            pause.text = " ".join(t for t, ns in self.decoder.transcribe(padded, hint) if ns < 0.6).strip()
            reply = asyncio.run(self.flow.preview(pause.text)) if pause.text else None
            pause.answers = reply is not None and reply.acts
            pause.complete = self.end_model.complete(clip)
            rendering.pauses.append(pause)
        return rendering


@dataclass(frozen=True)
class Rule:
    """A way of ending turns, applied to the judgements at each pause."""

    name: str
    wait: Callable[[Pause], float]

    @classmethod
    def from_policy(cls, name: str, policy: TurnPolicy, smart_turn: bool) -> Rule:
        return cls(name, lambda p: policy.wait_secs(p.shape, p.complete if smart_turn else None))


def fixed_stop(secs: float) -> Rule:
    """A plain silence timer: what a VAD-only bot does."""
    return Rule(f"silence {secs:.2f} s", lambda p: secs)


def smart_turn_only(threshold: float = 0.5, fallback: float = 3.0) -> Rule:
    """Pipecat's stock stop: VAD 0.2 s, then Smart Turn on every pause, 3 s fallback."""
    return Rule("pipecat: Smart Turn + 3 s", lambda p: 0.0 if (p.complete or 0.0) >= threshold else fallback)


def outcome(rendering: Rendering, rule: Rule, bar_secs: float) -> Outcome:
    for pause in rendering.pauses:
        if pause.stop_after is None:
            continue
        ends = max(pause.stop_after, rule.wait(pause))
        gap = bar_secs if pause.at_bar else pause.gap
        if gap is not None:
            if gap > ends:
                return Outcome(True, None)
            continue
        return Outcome(False, pause.silence_from + ends - rendering.speech_end)
    return Outcome(False, None)


def summarise(renderings: Sequence[Rendering], rule: Rule, bars: Sequence[float]) -> dict[str, object]:
    """Cut-offs per kind (paused: per bar length) and the wait on finished turns."""
    row: dict[str, object] = {"rule": rule.name, "unheard": sum(not r.pauses for r in renderings)}
    for kind in ("short", "sentence"):
        outs = [outcome(r, rule, 0.0) for r in renderings if r.material.kind == kind]
        waits = sorted(o.wait_secs * 1000 for o in outs if o.wait_secs is not None)
        row[f"{kind}_cut"] = f"{sum(o.cut_off for o in outs)}/{len(outs)}"
        row[f"{kind}_p50"] = _pct(waits, 50)
        row[f"{kind}_p95"] = _pct(waits, 95)
    paused = [r for r in renderings if r.material.kind == "paused"]
    for secs in bars:
        outs = [outcome(r, rule, secs) for r in paused]
        row[f"paused_{secs:.1f}"] = f"{sum(o.cut_off for o in outs)}/{len(outs)}"
    return row


def _pct(values: list[float], q: int) -> float | None:
    return float(np.percentile(values, q)) if values else None
