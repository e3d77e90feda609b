"""The fuzzy keyword matcher: exact about the words the table names, forgiving of how Whisper spells them.

Matches what the caller said against each intent's examples and keywords with
string similarity, so "a gent" and "represent a tive" still land on *agent*. It
knows nothing of meaning: "is there someone I could speak with" only scores
through its keywords. The semantic matcher beside it covers the paraphrases.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from voicebot.intents.table import IntentTable, normalize


class FuzzyMatcher:
    """Scores in [0, 1] per intent: the best example similarity or keyword hit, longer keywords weighing more."""

    def __init__(self, table: IntentTable):
        self._examples = {i.name: [normalize(e) for e in i.examples] for i in table.intents}
        self._keywords = {i.name: [normalize(k).split() for k in i.keywords] for i in table.intents}

    def scores(self, words: str) -> dict[str, float]:
        """``words`` as :func:`normalize` gives them."""
        return {name: self._score(name, words) for name in self._examples}

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
