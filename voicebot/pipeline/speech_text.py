"""Text made speakable: case numbers spelled out so a caller can write them down.

"CAS-01234" becomes "C A S, zero, one, two, three, four": a TTS voice reading
"cas oh-one-two-three-four" or "one thousand two hundred thirty four" is not
understood on a phone line.
"""

from __future__ import annotations

import re

_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# Identifiers: letters and digits mixed, or long digit runs (ticket ids, case numbers).
_IDENTIFIER = re.compile(r"\b(?=[A-Za-z0-9-]*\d)(?:[A-Za-z]+-?\d[\w-]*|\d{4,})\b")


def spell_identifier(token: str) -> str:
    groups = [g for g in re.split(r"[-_]", token) if g]
    spoken = []
    for group in groups:
        parts = re.findall(r"[A-Za-z]+|\d+", group)
        for part in parts:
            if part.isdigit():
                # Commas make the voice pause between digits, as a person reading them out does.
                spoken.append(", ".join(_DIGITS[int(d)] for d in part))
            else:
                spoken.append(" ".join(part.upper()))
    return ", ".join(spoken)


def speakable(text: str) -> str:
    return _IDENTIFIER.sub(lambda m: spell_identifier(m.group(0)), text)


def split_sentences(text: str) -> list[str]:
    """Sentences, so the first can be playing while the next is synthesised."""
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip())
    return [p for p in parts if p]
