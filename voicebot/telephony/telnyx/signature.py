"""Telnyx's webhook signature: proof that a ``/telnyx/webhook`` event came from Telnyx.

Telnyx signs ``<telnyx-timestamp>|<raw body>`` with the account's Ed25519 key;
``telnyx-signature-ed25519`` carries the signature (base64) and the account's
public key (``telnyx.public_key``, base64, from the portal) verifies it. An
event older than five minutes is refused, so a captured one cannot be replayed.
"""

from __future__ import annotations

import base64
import binascii
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
TOLERANCE_SECS = 300


def public_key(encoded: str) -> Ed25519PublicKey:
    """The configured key; raises ValueError naming the key when it is not a base64 32-byte Ed25519 key."""
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"telnyx.public_key is not a base64 Ed25519 public key ({exc})") from None


def valid_signature(
    key: Ed25519PublicKey, body: bytes, signature: str | None, timestamp: str | None, now: float | None = None
) -> bool:
    if not signature or not timestamp or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECS:
        return False
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + b"|" + body)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
