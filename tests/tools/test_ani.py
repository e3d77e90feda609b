"""Caller numbers: parsed once, searched in every form a CRM may hold, masked in logs."""

import pytest

from voicebot.tools.ani import mask_phone, normalize_ani, same_number


@pytest.mark.parametrize("raw", ["+14155552671", "14155552671", "(415) 555-2671", "415.555.2671", "tel:+14155552671"])
def test_us_numbers_normalise_to_e164_and_stripped_national(raw):
    caller = normalize_ani(raw, "US")
    assert caller.e164 == "+14155552671"
    assert caller.national == "4155552671"
    assert caller.is_known


def test_international_numbers_keep_their_country():
    caller = normalize_ani("+44 20 7183 8750", "US")
    assert caller.e164 == "+442071838750" and caller.national == "2071838750" and caller.country_code == 44


def test_numbers_without_plus_use_the_default_region():
    assert normalize_ani("020 7183 8750", "GB").e164 == "+442071838750"


@pytest.mark.parametrize(
    "raw",
    ["anonymous", "Restricted", "unavailable", "unknown", "private", "+266696687", "", None, "12", "not a number"],
)
def test_withheld_or_unparseable_numbers_are_unknown_callers(raw):
    caller = normalize_ani(raw, "US")
    assert not caller.is_known and caller.e164 is None and caller.variants() == []


def test_variants_are_the_forms_crms_store():
    assert normalize_ani("+14155552671").variants() == ["+14155552671", "14155552671", "4155552671"]


def test_same_number_confirms_free_text_crm_numbers():
    caller = normalize_ani("+14155552671")
    assert same_number("(415) 555-2671", caller)
    assert same_number("+1 415-555-2671", caller)
    assert not same_number("(415) 555-2672", caller)
    assert not same_number("", caller)


def test_masking_keeps_only_the_last_two_digits():
    assert mask_phone("+14155552671") == "*********71"
    assert "4155" not in normalize_ani("+14155552671").masked
