"""The token Webex sends with every BYOVA RPC: an RS256 JWS from the Webex identity broker, checked each time.

Each caller turn is a new RPC, so each is authenticated; the broker's keys are
fetched once an hour per issuer (and kept when a refresh is throttled or
fails). The issuer is checked against the broker list before anything is
fetched for it, so a forged token cannot make us call out to a host it names.
The claims must name this data source (its registered URL, character for
character) and the Voice Virtual Agent schema. Sources: ``shared/specs/webex-byova.md`` §2.2.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

SCHEMA_ID = "5397013b-7920-4ffc-807c-e8a3e0a18f43"  # Webex's Voice Virtual Agent data-source schema
WEBEX_ISSUERS = frozenset(
    {
        "https://idbrokerbts.webex.com/idb",
        "https://idbrokerbts-eu.webex.com/idb",
        "https://idbroker.webex.com/idb",
        "https://idbroker-eu.webex.com/idb",
        "https://idbroker-b-us.webex.com/idb",
        "https://idbroker-ca.webex.com/idb",
    }
)
KEYS_PATH = "/oauth2/v2/keys/verificationjwk"
KEYS_CACHE_SECS = 3600.0
LEEWAY_SECS = 30  # clock skew between Webex and us


class InvalidToken(Exception):
    """The RPC is refused as UNAUTHENTICATED, with this reason logged (never the token)."""


@dataclass(frozen=True, slots=True)
class WebexCaller:
    """Who the verified token says is calling: the org and the data source, for the call record and the logs."""

    org_id: str
    subject: str
    token_id: str


@dataclass
class _Keys:
    keys: list[dict[str, Any]]
    fetched_at: float


@dataclass
class TokenVerifier:
    """Verifies the ``authorization`` metadata of a BYOVA RPC (raw JWS, or ``Bearer <jws>``)."""

    datasource_url: str  # as registered with POST /v1/dataSources
    audience: str | None = None  # when set, the registered audience the token must carry
    subject: str | None = None
    issuers: frozenset[str] = WEBEX_ISSUERS
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5.0))
    clock: Callable[[], float] = time.time
    _keys: dict[str, _Keys] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def verify(self, authorization: str | None) -> WebexCaller:
        token = (authorization or "").strip()
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        if not token:
            raise InvalidToken("no authorization metadata")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a JWS ({exc})") from None
        if header.get("alg") != "RS256":
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not RS256")
        issuer = unverified.get("iss")
        if issuer not in self.issuers:
            raise InvalidToken(f"issuer {issuer!r} is not the Webex identity broker")
        claims = self._decode(token, await self._key_for(issuer, header.get("kid")))
        return self._check(claims)

    def _decode(self, token: str, key: Any) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                options={"require": ["exp"], "verify_aud": False, "verify_iat": False},
                leeway=LEEWAY_SECS,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"signature or claims rejected ({exc})") from None

    def _check(self, claims: dict[str, Any]) -> WebexCaller:
        for name in ("aud", "sub", "jti"):
            if not claims.get(name):
                raise InvalidToken(f"claim {name} is missing")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if self.audience is not None and self.audience not in audiences:
            raise InvalidToken("token is for another audience")
        if self.subject is not None and claims["sub"] != self.subject:
            raise InvalidToken("token is for another subject")
        if claims.get("com.cisco.datasource.url") != self.datasource_url:
            raise InvalidToken("token is for another data source URL (compared character for character)")
        if claims.get("com.cisco.datasource.schema.uuid") != SCHEMA_ID:
            raise InvalidToken("token is not for the Voice Virtual Agent schema")
        return WebexCaller(str(claims.get("com.cisco.org.uuid") or ""), str(claims["sub"]), str(claims["jti"]))

    async def _key_for(self, issuer: str, kid: str | None) -> Any:
        keys = await self._issuer_keys(issuer)
        candidates = [k for k in keys if kid is None or k.get("kid") == kid]
        if not candidates and kid is not None:  # a key rolled since we fetched: look again, once
            keys = await self._issuer_keys(issuer, refresh=True)
            candidates = [k for k in keys if k.get("kid") == kid]
        for jwk in candidates:
            if jwk.get("alg", "RS256") != "RS256":
                continue  # a key must not be used with another algorithm than its own
            return RSAAlgorithm.from_jwk(json.dumps(jwk))
        raise InvalidToken(f"no RS256 key {kid!r} published by {issuer}")

    async def _issuer_keys(self, issuer: str, refresh: bool = False) -> list[dict[str, Any]]:
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            cached = self._keys.get(issuer)
            if cached is not None and not refresh and self.clock() - cached.fetched_at < KEYS_CACHE_SECS:
                return cached.keys
            try:
                response = await self.client.get(issuer + KEYS_PATH)
                response.raise_for_status()
                keys = response.json()["keys"]
                if not isinstance(keys, list):
                    raise ValueError("keys is not a list")
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                if cached is not None:  # throttled (429) or down: the keys we have are still the broker's
                    return cached.keys
                raise InvalidToken(f"could not fetch the signing keys of {issuer} ({exc})") from None
            self._keys[issuer] = _Keys(keys, self.clock())
            return keys

    async def aclose(self) -> None:
        await self.client.aclose()
