"""Signing ACS REST requests with the resource's access key (HMAC-SHA256), as an httpx auth flow.

The string to sign is ``VERB\\npath?query\\nx-ms-date;host;x-ms-content-sha256``;
the signature is base64 HMAC-SHA256 of it under the base64-decoded key
(``../shared/specs/acs-call-automation.md`` 6.2, with the published test vectors).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Generator
from email.utils import formatdate

import httpx

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def signature(access_key: str, text: str) -> str:
    return base64.b64encode(hmac.new(base64.b64decode(access_key), text.encode(), hashlib.sha256).digest()).decode()


def authorization(access_key: str, method: str, url: httpx.URL, date: str, body: bytes) -> tuple[str, str]:
    """(x-ms-content-sha256, Authorization) for one request."""
    body_hash = content_hash(body)
    path_and_query = url.raw_path.decode()  # path plus "?" and the raw query, as sent
    host = url.netloc.decode()
    signed = signature(access_key, string_to_sign(method, path_and_query, date, host, body_hash))
    return body_hash, f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signed}"


def rfc1123_now() -> str:
    return formatdate(usegmt=True)


class AccessKeyAuth(httpx.Auth):
    """Adds ``x-ms-date``, ``x-ms-content-sha256`` and the HMAC ``Authorization`` to every request."""

    requires_request_body = True

    def __init__(self, access_key: str, clock: Callable[[], str] = rfc1123_now):
        base64.b64decode(access_key, validate=True)  # a key that is not base64 fails here, not at the first call
        self._key = access_key
        self._clock = clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        date = self._clock()
        body_hash, header = authorization(self._key, request.method, request.url, date, request.content)
        request.headers["x-ms-date"] = date
        request.headers["x-ms-content-sha256"] = body_hash
        request.headers["Authorization"] = header
        yield request
