"""Telnyx webhook signatures: Ed25519 over ``timestamp|body``, fresh ones only."""

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from voicebot.config import TelnyxSettings
from voicebot.telephony.telnyx.signature import public_key, valid_signature

SIGNER = Ed25519PrivateKey.generate()
KEY_B64 = base64.b64encode(SIGNER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
BODY = b'{"data":{"event_type":"call.initiated"}}'
NOW = 1_800_000_000


def signed(body: bytes, timestamp: int, signer=SIGNER) -> str:
    return base64.b64encode(signer.sign(str(timestamp).encode() + b"|" + body)).decode()


def test_an_event_signed_by_the_account_key_is_valid():
    assert valid_signature(public_key(KEY_B64), BODY, signed(BODY, NOW), str(NOW), now=NOW + 10)


def test_forged_altered_or_stale_events_are_not():
    key = public_key(KEY_B64)
    assert not valid_signature(key, BODY, signed(BODY, NOW, Ed25519PrivateKey.generate()), str(NOW), now=NOW)
    assert not valid_signature(key, BODY + b" ", signed(BODY, NOW), str(NOW), now=NOW)
    assert not valid_signature(key, BODY, signed(BODY, NOW), str(NOW + 1), now=NOW)  # another time
    assert not valid_signature(key, BODY, signed(BODY, NOW), str(NOW), now=NOW + 301)  # replayed later
    assert not valid_signature(key, BODY, "not base64!", str(NOW), now=NOW)
    assert not valid_signature(key, BODY, None, None)


def test_a_malformed_public_key_is_a_configuration_error():
    with pytest.raises(ValueError, match="32-byte Ed25519"):
        TelnyxSettings(public_key="c2hvcnQ=")
    assert TelnyxSettings(public_key=KEY_B64).public_key == KEY_B64
