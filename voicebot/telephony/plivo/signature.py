"""Plivo's V3 webhook signature: proof that a request to ``/plivo/*`` came from Plivo.

``X-Plivo-Signature-V3`` is base64 HMAC-SHA256, keyed with the account's auth
token, of the request as Plivo canonicalises it (below) plus ``.`` and the
``X-Plivo-Signature-V3-Nonce``; the header may carry several signatures,
comma-separated. Checked when ``plivo.auth_token`` is set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

SIGNATURE_HEADER = "X-Plivo-Signature-V3"
NONCE_HEADER = "X-Plivo-Signature-V3-Nonce"

Params = Mapping[str, list[str]]


def _query(params: Params) -> str:
    return "&".join(f"{key}={value}" for key in sorted(params) for value in sorted(params[key]))


def canonical(method: str, url: str, params: Params) -> str:
    """GET: the URL with its query sorted; POST: the URL, then the sorted form fields as ``keyvalue`` pairs."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    url_params = parse_qs(parts.query, keep_blank_values=True)
    if method.upper() == "GET":
        merged = {**params, **url_params}
        query = _query(merged)
        return base + (f"?{query}" if query else "")
    query = _query(url_params)
    if query or params:
        base += f"?{query}"
    if query and params:
        base += "."
    return base + "".join(f"{key}{value}" for key in sorted(params) for value in sorted(params[key]))


def signature(auth_token: str, method: str, url: str, params: Params, nonce: str) -> str:
    signed = f"{canonical(method, url, params)}.{nonce}".encode()
    return base64.b64encode(hmac.new(auth_token.encode(), signed, hashlib.sha256).digest()).decode()


def valid_signature(auth_token: str, method: str, url: str, params: Params, nonce: str, header: str | None) -> bool:
    if not header or not nonce:
        return False
    expected = signature(auth_token, method, url, params, nonce).encode()
    return any(hmac.compare_digest(expected, given.strip().encode()) for given in header.split(","))
