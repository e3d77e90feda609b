"""The intent router: keywords and meaning together, with a confidence the dialogue can act on.

The fuzzy matcher is sure of the words the table names ("agent", "bye") even
when Whisper mangles them; the semantic matcher understands paraphrases and
knows what is out of scope. Their scores are blended per intent, and the blend
of the best intent becomes a calibrated confidence: a logistic curve fitted on
the development parts of the evaluation set (``benchmarks/intent_eval.py
--fit``), so that 0.8 means right about four times in five. The dialogue acts
above ``dialogue.intent_threshold``, asks to confirm above
``dialogue.confirm_threshold``, and re-asks below it.
"""

from __future__ import annotations

import asyncio
import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from voicebot.intents.fuzzy import FuzzyMatcher
from voicebot.intents.semantic import NONE, SemanticMatcher, shared_embedder
from voicebot.intents.table import Intent, IntentTable, normalize

Source = Literal["speech", "dtmf"]


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The router's answer: ``intent`` is None when not understood; ``best`` is the likeliest intent all the same."""

    intent: str | None
    confidence: float
    source: Source
    heard: str
    best: str | None = None
    out_of_scope: bool = False  # confidently none of the intents: a request the bot cannot handle
    scores: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def understood(self) -> bool:
        return self.intent is not None


@dataclass(frozen=True, slots=True)
class Calibration:
    """confidence = sigmoid(slope * blend + offset); fitted on the development parts only."""

    slope: float = 15.99
    offset: float = -8.09

    def __call__(self, blend: float) -> float:
        return 1 / (1 + math.exp(-(self.slope * blend + self.offset)))


# Words an utterance cannot end on when it is finished (after normalize()).
LEADS_ON = frozenset("a an the and or but because if of my your our their".split())

# A yes or no that opens a longer answer ("No, I want to know the status of my case").
OPENERS = frozenset("yes yeah yep no nope nah okay ok right well".split())

SEMANTIC_WEIGHT = 0.5  # of the blend; the fuzzy score has the rest (chosen on the development part)
CACHED_ROUTES = 512  # a turn's text is routed while the caller pauses and again when it ends: once is enough


class IntentRouter:
    """Scores an utterance against every intent and keeps the best if it is confident."""

    def __init__(
        self,
        table: IntentTable,
        threshold: float = 0.7,
        semantic: SemanticMatcher | None = None,
        calibration: Calibration = Calibration(),
    ):
        self.table = table
        self.threshold = threshold
        self.semantic = semantic
        self.calibration = calibration
        self._fuzzy = FuzzyMatcher(table)
        self._dtmf = {d: i.name for i in table.intents for d in i.dtmf}
        self._routed: OrderedDict[str, IntentMatch] = OrderedDict()

    @property
    def intents(self) -> tuple[Intent, ...]:
        return self.table.intents

    @classmethod
    def load(
        cls, extra: Path | None = None, threshold: float = 0.7, embedder: str | None = "use-multilingual-v3"
    ) -> IntentRouter:
        """The bundled table with ``extra`` merged over it; ``embedder=None`` routes on keywords alone."""
        table = IntentTable.load(extra)
        semantic = SemanticMatcher(table, shared_embedder(embedder)) if embedder else None
        return cls(table, threshold, semantic)

    def route_dtmf(self, digit: str) -> IntentMatch:
        intent = self._dtmf.get(digit)
        return IntentMatch(intent, 1.0 if intent else 0.0, "dtmf", digit, intent)

    async def understand(self, text: str) -> IntentMatch:
        """:meth:`route` off the event loop (the embedding and fuzzy scores are CPU work), once per text."""
        if (known := self._routed.get(text)) is not None:
            self._routed.move_to_end(text)
            return known
        match = self.route(text) if self.semantic is None else await asyncio.to_thread(self.route, text)
        self._routed[text] = match
        while len(self._routed) > CACHED_ROUTES:
            self._routed.popitem(last=False)
        return match

    def route(self, text: str) -> IntentMatch:
        """Blocking; :meth:`understand` is the call path's way in."""
        match = self._route(text)
        head, comma, rest = text.partition(",")
        if comma and normalize(head) in OPENERS and len(normalize(rest).split()) >= 3:
            # "No, I want to know the status": the opener answers the menu, what follows says what they want.
            after = self._route(rest)
            if after.confidence > match.confidence:
                return replace(after, heard=text)
        return match

    def _route(self, text: str) -> IntentMatch:
        words = normalize(text)
        if not words:
            return IntentMatch(None, 0.0, "speech", text)
        blend = self.blend(text, words)
        # "I'm not done yet", "don't hang up": an intent's own words said to mean the opposite never choose it.
        candidates = [name for name in blend if name not in self._fuzzy.negated(words)]
        if not candidates:
            return IntentMatch(None, 0.0, "speech", text, scores=blend)
        best = max(candidates, key=blend.__getitem__)
        if words.split()[-1] in LEADS_ON:
            # "what's the", "my order and": the caller stopped before saying what they want.
            return IntentMatch(None, 0.0, "speech", text, None if best == NONE else best, scores=blend)
        if best == NONE:
            runner_up = max((name for name in candidates if name != NONE), key=blend.__getitem__, default=None)
            confidence = 0.0 if runner_up is None else round(min(self._confidence(blend[runner_up]), self.threshold), 3)
            out_of_scope = self._confidence(blend[NONE]) >= self.threshold
            return IntentMatch(None, confidence, "speech", text, runner_up, out_of_scope, blend)
        confidence = self._confidence(blend[best])
        intent = best if confidence >= self.threshold else None
        return IntentMatch(intent, round(confidence, 3), "speech", text, best, scores=blend)

    def _confidence(self, blend: float) -> float:
        """Keywords alone keep their raw similarity as the confidence; the blend is calibrated."""
        return self.calibration(blend) if self.semantic is not None else blend

    def blend(self, text: str, words: str) -> dict[str, float]:
        """Per intent (and :data:`NONE` with a semantic matcher): the scores the confidence is read from."""
        fuzzy = self._fuzzy.scores(words)
        if self.semantic is None:
            return fuzzy
        meaning = self.semantic.scores(text)
        blend = {
            name: SEMANTIC_WEIGHT * meaning.get(name, 0.0) + (1 - SEMANTIC_WEIGHT) * f for name, f in fuzzy.items()
        }
        if NONE in meaning:
            blend[NONE] = SEMANTIC_WEIGHT * meaning[NONE] + (1 - SEMANTIC_WEIGHT) * (1 - max(fuzzy.values()))
        return blend
