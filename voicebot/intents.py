"""Deterministic, offline intent router.

Matches what the caller said (as the speech recogniser heard it) against a table
of intents (:file:`data/intents.toml`, extendable by config) with fuzzy string
similarity, so "a gent" and "represent a tive" still land on *agent*. Returns a
confidence; below the threshold the answer is "not understood".
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from rapidfuzz import fuzz

_CONTRACTIONS = {
    "i'm": "i am",
    "im": "i am",
    "that's": "that is",
    "thats": "that is",
    "it's": "it is",
    "what's": "what is",
    "whats": "what is",
    "where's": "where is",
    "don't": "do not",
    "dont": "do not",
    "didn't": "did not",
    "didnt": "did not",
    "can't": "can not",
    "cannot": "can not",
    "i'd": "i would",
    "that'll": "that will",
    "i've": "i have",
    "isn't": "is not",
    "wanna": "want to",
    "gonna": "going to",
}
_FILLERS = {"uh", "um", "umm", "uhm", "er", "erm", "hmm", "mm", "ah", "oh", "well", "so", "like"}


def normalize(text: str) -> str:
    """Lower-case words without punctuation, contractions expanded, fillers dropped."""
    words = re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))
    out: list[str] = []
    for word in words:
        word = word.strip("'")
        if not word or word in _FILLERS:
            continue
        out.extend(_CONTRACTIONS.get(word, word).split())
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    dtmf: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The router's answer: ``intent`` is None when not understood."""

    intent: str | None
    confidence: float
    source: Literal["speech", "dtmf"]
    heard: str
    scores: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def understood(self) -> bool:
        return self.intent is not None


class IntentRouter:
    """Scores an utterance against every intent and keeps the best if it is confident."""

    def __init__(self, intents: list[Intent], threshold: float = 0.7):
        self.intents = intents
        self.threshold = threshold
        self._examples = {i.name: [normalize(e) for e in i.examples] for i in intents}
        self._keywords = {i.name: [normalize(k).split() for k in i.keywords] for i in intents}
        self._dtmf = {d: i.name for i in intents for d in i.dtmf}

    @classmethod
    def load(cls, extra: Path | None = None, threshold: float = 0.7) -> IntentRouter:
        """The bundled table, with ``extra`` (same TOML shape) merged over it."""
        table = tomllib.loads(resources.files("voicebot.data").joinpath("intents.toml").read_text())
        merged: dict[str, dict] = {name: dict(spec) for name, spec in table["intents"].items()}
        if extra is not None:
            for name, spec in tomllib.loads(Path(extra).read_text()).get("intents", {}).items():
                base = merged.setdefault(name, {})
                for key in ("examples", "keywords", "dtmf"):
                    base[key] = list(base.get(key, [])) + list(spec.get(key, []))
                base.setdefault("description", spec.get("description", ""))
        intents = [
            Intent(
                name=name,
                examples=tuple(spec.get("examples", ())),
                keywords=tuple(spec.get("keywords", ())),
                dtmf=tuple(str(d) for d in spec.get("dtmf", ())),
                description=spec.get("description", ""),
            )
            for name, spec in merged.items()
        ]
        return cls(intents, threshold)

    def route_dtmf(self, digit: str) -> IntentMatch:
        intent = self._dtmf.get(digit)
        return IntentMatch(intent, 1.0 if intent else 0.0, "dtmf", digit)

    def route(self, text: str) -> IntentMatch:
        words = normalize(text)
        if not words:
            return IntentMatch(None, 0.0, "speech", text)
        scores = {i.name: self._score(i.name, words) for i in self.intents}
        best = max(scores, key=scores.__getitem__)
        confidence = round(scores[best], 3)
        intent = best if confidence >= self.threshold else None
        return IntentMatch(intent, confidence, "speech", text, scores)

    def _score(self, intent: str, words: str) -> float:
        example = max((fuzz.ratio(words, e) / 100 for e in self._examples[intent]), default=0.0)
        tokens = words.split()
        keyword = 0.0
        for phrase in self._keywords[intent]:
            similarity = _best_window(tokens, phrase)
            if similarity:
                # Longer phrases are more specific: "talk to someone" outranks "no".
                keyword = max(keyword, similarity * min(0.7 + 0.08 * len(phrase), 0.94))
        return max(example, keyword)


def _best_window(tokens: list[str], phrase: list[str]) -> float:
    """Best similarity of ``phrase`` to any run of as many tokens (0 if below the cut)."""
    n = len(phrase)
    target = " ".join(phrase)
    # Short words must match exactly: "no" is not "know", "bye" is not "by".
    cutoff = 100 if len(target) <= 4 else 84
    best = 0.0
    for start in range(0, max(len(tokens) - n + 1, 0)):
        window = " ".join(tokens[start : start + n])
        score = fuzz.ratio(window, target)
        if score >= cutoff:
            best = max(best, score / 100)
    # Recogniser splits ("a gent", "represent ative"): try the window joined up.
    if not best and len(target) > 4:
        for start in range(0, len(tokens) - n):
            joined = "".join(tokens[start : start + n + 1])
            if fuzz.ratio(joined, target.replace(" ", "")) >= 88:
                return 0.9
    return best
