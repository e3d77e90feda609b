"""ACS access-key signing against the test vectors Azure's own SDK publishes (communicationKeyCredentialPolicy)."""

from __future__ import annotations

import binascii

import httpx
import pytest

from voicebot.telephony.acs.signature import AccessKeyAuth, content_hash, signature

DATE = "Wed, 13 Apr 2022 18:09:12 GMT"
EMPTY = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def signed(url: str, method: str = "GET", body: bytes = b"") -> httpx.Request:
    request = httpx.Request(method, url, content=body)
    flow = AccessKeyAuth("pw==", clock=lambda: DATE).auth_flow(request)
    return next(flow)


def test_hashes_and_hmacs_match_the_sdks_vectors():
    assert content_hash(b"") == EMPTY
    assert content_hash(b"banana") == "tJPUg2Sv5E0RwBZc9HCkFk0eJgmRHvmYvoaNRq3j3k4="
    assert signature("pw==", "banana") == "88EC05aAS9iXnaimtNO78JLjiPtfWryQB/5QYEzEsu8="


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/testPath?testQuery=test", "DGdgwggJWnQyc6EHjR/Vbqg1ES64KpD6U2XwTDDj3tU="),
        ("https://example.com/testPath", "+6tWkg3lNKVjQHHmxkdGQcJjUgzclsWTMebnuCz1ngU="),
    ],
)
def test_a_request_is_signed_as_the_sdk_signs_it(url, expected):
    request = signed(url)
    assert request.headers["x-ms-date"] == DATE and request.headers["x-ms-content-sha256"] == EMPTY
    assert request.headers["Authorization"] == (
        f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={expected}"
    )


def test_the_body_and_a_port_are_part_of_what_is_signed():
    plain = signed("https://example.com/calling", "POST", b"{}")
    assert plain.headers["x-ms-content-sha256"] == content_hash(b"{}")
    on_a_port = signed("http://127.0.0.1:8443/calling", "POST", b"{}")
    assert on_a_port.headers["Authorization"] != plain.headers["Authorization"]


def test_a_key_that_is_not_base64_is_refused_at_once():
    with pytest.raises(binascii.Error):
        AccessKeyAuth("not base64!")
