"""The intent table: what callers mean, by example, as data.

The bundled table (:file:`data/intents.toml`) can be extended without code: a
user's TOML file of the same shape adds examples, keywords and keypad digits to
existing intents, or whole new intents, and out-of-scope examples that teach the
router what it must not claim to understand.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

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


OUT_OF_SCOPE = "none"  # the answers file's label for what is none of the intents


def read_answers(text: str) -> list[tuple[str, str]]:
    """``intent<TAB>utterance`` lines: callers' own words, labelled, as more examples."""
    rows = []
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            intent, utterance = line.split("\t")
            rows.append((intent.strip(), utterance.strip()))
    return rows


@dataclass(frozen=True, slots=True)
class Intent:
    name: str
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    dtmf: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True, slots=True)
class IntentTable:
    """The intents, and examples of what is none of them (answered "not understood")."""

    intents: tuple[Intent, ...]
    out_of_scope: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.intents]

    @classmethod
    def load(cls, extra: Path | None = None, answers: bool = True) -> IntentTable:
        """The bundled table and its labelled caller answers, with ``extra`` (same TOML shape) merged over it."""
        data = resources.files("voicebot.data")
        table = tomllib.loads(data.joinpath("intents.toml").read_text())
        merged: dict[str, dict] = {name: dict(spec) for name, spec in table["intents"].items()}
        out_of_scope = list(table.get("out_of_scope", {}).get("examples", []))
        if extra is not None:
            user = tomllib.loads(Path(extra).read_text())
            for name, spec in user.get("intents", {}).items():
                base = merged.setdefault(name, {})
                for key in ("examples", "keywords", "dtmf"):
                    base[key] = list(base.get(key, [])) + list(spec.get(key, []))
                base.setdefault("description", spec.get("description", ""))
            out_of_scope += user.get("out_of_scope", {}).get("examples", [])
        intents = tuple(
            Intent(
                name=name,
                examples=tuple(spec.get("examples", ())),
                keywords=tuple(spec.get("keywords", ())),
                dtmf=tuple(str(d) for d in spec.get("dtmf", ())),
                description=spec.get("description", ""),
            )
            for name, spec in merged.items()
        )
        loaded = cls(intents, tuple(out_of_scope))
        return loaded.plus(read_answers(data.joinpath("answers.tsv").read_text())) if answers else loaded

    def plus(self, answers: list[tuple[str, str]]) -> IntentTable:
        """This table with labelled answers (``(intent, utterance)``) added as examples."""
        intents = tuple(
            replace(i, examples=(*i.examples, *(text for intent, text in answers if intent == i.name)))
            for i in self.intents
        )
        more = tuple(text for intent, text in answers if intent == OUT_OF_SCOPE)
        return IntentTable(intents, (*self.out_of_scope, *more))
