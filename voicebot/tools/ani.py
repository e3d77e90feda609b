"""Caller number (ANI) normalisation.

Telephony platforms hand us the caller's number in many shapes; CRMs store it
in many more. Everything downstream works from one parsed :class:`CallerNumber`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers

# Withheld-number sentinels sent by carriers, and keypad spellings of them
# ("+266696687" is ANONYMOUS on a phone keypad).
_WITHHELD = {"anonymous", "restricted", "unavailable", "unknown", "private", "blocked", "withheld"}
_WITHHELD_DIGITS = {"266696687", "7378423", "73784238", "8642846"}


@dataclass(frozen=True, slots=True)
class CallerNumber:
    """A caller's number as received and in the forms CRMs are searched by."""

    raw: str
    e164: str | None = None
    national: str | None = None
    country_code: int | None = None

    @property
    def is_known(self) -> bool:
        return self.e164 is not None

    @property
    def masked(self) -> str:
        """For logs: keeps the last two digits only."""
        digits = re.sub(r"\D", "", self.e164 or self.raw)
        if not digits:
            return self.raw or "<none>"
        return "*" * max(len(digits) - 2, 0) + digits[-2:]

    def variants(self) -> list[str]:
        """Forms a CRM may hold the number in: E.164, digits, national."""
        if not self.is_known:
            return []
        assert self.e164 and self.national
        forms = [self.e164, self.e164.lstrip("+"), self.national]
        return list(dict.fromkeys(forms))


def mask_phone(raw: str | None) -> str:
    return CallerNumber(raw=raw or "").masked


def normalize_ani(raw: str | None, default_region: str = "US") -> CallerNumber:
    """Parse an ANI; withheld or unparseable numbers give an unknown caller."""
    text = (raw or "").strip()
    if text.lower().startswith("sip:") or text.lower().startswith("tel:"):
        text = text.split(":", 1)[1].split("@", 1)[0].split(";", 1)[0]
    digits = re.sub(r"\D", "", text)
    if not text or text.lower() in _WITHHELD or digits in _WITHHELD_DIGITS or not digits:
        return CallerNumber(raw=raw or "")
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return CallerNumber(raw=raw or "")
    if not phonenumbers.is_possible_number(parsed):
        return CallerNumber(raw=raw or "")
    return CallerNumber(
        raw=raw or "",
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        national=phonenumbers.national_significant_number(parsed),
        country_code=parsed.country_code,
    )


def same_number(stored: str, caller: CallerNumber, default_region: str = "US") -> bool:
    """Whether a number as stored in a CRM is the caller's (confirmed by phonenumbers)."""
    if not caller.is_known or not stored.strip():
        return False
    candidate = normalize_ani(stored, default_region)
    if candidate.e164 is None or caller.e164 is None:
        return False
    match = phonenumbers.is_number_match(candidate.e164, caller.e164)
    return match in (phonenumbers.MatchType.EXACT_MATCH, phonenumbers.MatchType.NSN_MATCH)
