"""The fuzzy keyword matcher: exact about the words the table names, forgiving of how Whisper spells them.

Matches what the caller said against each intent's examples and keywords with
string similarity, so "a gent" and "represent a tive" still land on *agent*. It
knows nothing of meaning: "is there someone I could speak with" only scores
through its keywords. The semantic matcher beside it covers the paraphrases.

Neither hears a "not": a sentence encoder puts "I'm not done yet" beside "I'm
done", and "don't hang up" holds the keyword "hang up". :meth:`FuzzyMatcher.negated`
finds an intent's own phrase said with a "not" in it, so the router can refuse it.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from voicebot.intents.table import IntentTable, normalize

NEGATORS = frozenset({"not", "never"})  # after normalize(): "don't" is "do not", "isn't" is "is not"
NEGATED_EXAMPLE = 0.85  # how close "I'm done" (the caller's words without their "not") must be to an example
# Words a "not" reaches across to the phrase it negates: "do not [want an] agent", "not [quite] done".
NEGATION_REACHES = frozenset("need want to like really quite yet going have a an the any even at all".split())


class FuzzyMatcher:
    """Scores in [0, 1] per intent: the best example similarity or keyword hit, longer keywords weighing more."""

    def __init__(self, table: IntentTable):
        self._examples = {i.name: [normalize(e) for e in i.examples] for i in table.intents}
        self._keywords = {i.name: [normalize(k).split() for k in i.keywords] for i in table.intents}
        # For negated(): each intent's phrasings with no "not" in them, and those with one.
        self._plain = {n: [e for e in es if not _has_negator(e)] for n, es in self._examples.items()}
        self._negative = {n: [e for e in es if _has_negator(e)] for n, es in self._examples.items()}
        self._plain_keywords = {n: [k for k in ks if not _has_negator(" ".join(k))] for n, ks in self._keywords.items()}

    def scores(self, words: str) -> dict[str, float]:
        """``words`` as :func:`normalize` gives them."""
        return {name: self._score(name, words) for name in self._examples}

    def negated(self, words: str) -> set[str]:
        """Intents whose own phrase ``words`` says with a "not" in it: "i am not done", "do not hang up".

        Without its negators the sentence must match one of the intent's plain
        examples, or hold one of its keywords within the "not"'s reach;
        and match it better than the sentence as said matches the intent's own
        negative phrasings ("i do not need anything else" stays a goodbye).
        """
        tokens = words.split()
        negators = [n for n, token in enumerate(tokens) if _negates(token)]
        if not negators:
            return set()
        kept = [(n, _affirm(token)) for n, token in enumerate(tokens) if token not in NEGATORS]
        affirmative = [token for _, token in kept]
        sentence = " ".join(affirmative)
        found = set()
        for intent in self._examples:
            plain = max((fuzz.ratio(sentence, e) / 100 for e in self._plain[intent]), default=0.0)
            if plain < NEGATED_EXAMPLE:
                plain = 0.0
            for phrase in self._plain_keywords[intent]:
                for start in _windows(affirmative, phrase):
                    if any(_reaches(tokens, n, kept[start][0], kept[start + len(phrase) - 1][0]) for n in negators):
                        plain = 1.0
            if not plain:
                continue
            as_said = max((fuzz.ratio(words, e) / 100 for e in self._negative[intent]), default=0.0)
            if plain > as_said:
                found.add(intent)
        return found

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


def _negates(token: str) -> bool:
    return token in NEGATORS or token.endswith("n't")


def _has_negator(words: str) -> bool:
    return any(_negates(token) for token in words.split())


def _reaches(tokens: list[str], negator: int, first: int, last: int) -> bool:
    """Whether the "not" at ``negator`` negates the phrase at ``first``..``last``: inside it, or before it
    with only :data:`NEGATION_REACHES` words between."""
    if first <= negator <= last:
        return True
    return negator < first and all(t in NEGATION_REACHES for t in tokens[negator + 1 : first])


def _affirm(token: str) -> str:
    """ "haven't" as "have" (normalize() leaves the rarer contractions whole)."""
    if token == "won't":
        return "will"
    return token[:-3] if token.endswith("n't") else token


def _windows(tokens: list[str], phrase: list[str]) -> list[int]:
    """Where ``phrase`` occurs in ``tokens``, word for word."""
    n = len(phrase)
    return [start for start in range(len(tokens) - n + 1) if tokens[start : start + n] == phrase]


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
