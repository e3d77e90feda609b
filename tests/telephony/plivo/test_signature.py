"""Plivo V3 signatures as Plivo's own SDK checks them (``plivo.utils.signature_v3``, a test dependency)."""

import pytest
from plivo.utils.signature_v3 import validate_v3_signature

from voicebot.telephony.plivo.signature import signature, valid_signature

CASES = [
    ("POST", "https://bot.example.com/plivo/answer", {"From": ["+14155552671"], "To": ["+1800"], "CallUUID": ["u"]}),
    ("POST", "https://bot.example.com/plivo/answer?x=1&a=2", {"From": ["+1"], "B": ["2", "1"]}),
    ("POST", "https://bot.example.com/plivo/after-stream", {"CallUUID": ["u"], "Empty": [""]}),
    ("POST", "https://bot.example.com/plivo/hold", {}),
    ("POST", "https://bot.example.com/plivo/hold?q=1", {}),
    ("GET", "https://bot.example.com/plivo/answer?From=%2B1415&To=1&CallUUID=x", {}),
    ("GET", "https://bot.example.com/plivo/hold", {}),
]


@pytest.mark.parametrize(("method", "url", "params"), CASES)
def test_our_signature_is_the_one_plivos_sdk_accepts(method, url, params):
    ours = signature("auth-token", method, url, params, "55512")
    flat = {k: v if len(v) > 1 else v[0] for k, v in params.items()}
    assert validate_v3_signature(method, url, "55512", "auth-token", ours, flat if method == "POST" else None)


def test_a_request_is_valid_only_with_its_token_nonce_and_fields():
    method, url, params = CASES[0]
    header = signature("auth-token", method, url, params, "1")
    assert valid_signature("auth-token", method, url, params, "1", header)
    assert valid_signature("auth-token", method, url, params, "1", f"other,{header}")  # several, comma-separated
    assert not valid_signature("other-token", method, url, params, "1", header)
    assert not valid_signature("auth-token", method, url, params, "2", header)
    assert not valid_signature("auth-token", method, url, {**params, "To": ["+1900"]}, "1", header)
    assert not valid_signature("auth-token", method, url, params, "1", None)
