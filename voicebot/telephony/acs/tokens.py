"""The JWTs ACS puts on its callbacks and on the media websocket's upgrade: RS256, signed with the keys it publishes.

Each callback carries a token minted for it (valid 5 minutes), each websocket one
minted for the connection (24 hours); both have ``iss`` = ACS Call Automation
and ``aud`` = the resource's immutable id. The keys are fetched from the JWKS
URL, cached an hour, fetched again once for a ``kid`` not seen yet.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from jwt.algorithms import RSAAlgorithm

KEYS_CACHE_SECS = 3600.0
LEEWAY_SECS = 300  # clock skew, as Microsoft's own sample allows


class InvalidToken(Exception):
    """Refused: the reason is logged, never the token."""


@dataclass
class AcsTokenVerifier:
    jwks_url: str
    issuer: str
    audience: str
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5.0))
    _keys: list[dict[str, Any]] = field(default_factory=list)
    _fetched_at: float = float("-inf")
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def verify(self, authorization: str | None) -> dict[str, Any]:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidToken("no bearer token")
        try:
            header = jwt.get_unverified_header(token.strip())
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"not a JWT ({exc})") from None
        if header.get("alg") != "RS256":
            raise InvalidToken(f"algorithm {header.get('alg')!r} is not RS256")
        key = await self._key(header.get("kid"))
        try:
            return jwt.decode(
                token.strip(),
                key,
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iss", "aud"]},
                leeway=LEEWAY_SECS,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"signature or claims rejected ({exc})") from None

    async def _key(self, kid: str | None) -> Any:
        keys = await self._fetch()
        found = [k for k in keys if kid is None or k.get("kid") == kid]
        if not found and kid is not None:
            found = [k for k in await self._fetch(refresh=True) if k.get("kid") == kid]
        for jwk in found:
            if jwk.get("kty") == "RSA" and jwk.get("alg", "RS256") == "RS256":
                return RSAAlgorithm.from_jwk(json.dumps(jwk))
        raise InvalidToken(f"no RS256 key {kid!r} at {self.jwks_url}")

    async def _fetch(self, refresh: bool = False) -> list[dict[str, Any]]:
        async with self._lock:
            fresh = time.monotonic() - self._fetched_at < KEYS_CACHE_SECS
            if self._keys and fresh and not refresh:
                return self._keys
            try:
                response = await self.client.get(self.jwks_url)
                response.raise_for_status()
                self._keys = list(response.json().get("keys", []))
                self._fetched_at = time.monotonic()
            except (httpx.HTTPError, ValueError) as exc:
                if not self._keys:
                    raise InvalidToken(f"cannot fetch the keys ({type(exc).__name__})") from None
            return self._keys

    async def aclose(self) -> None:
        await self.client.aclose()
