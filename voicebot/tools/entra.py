"""OAuth 2.0 client credentials against Microsoft Entra ID: one token per scope, shared, renewed before it expires.

Used for Dataverse (the Dynamics CRM back end) and Microsoft Graph (Teams
presence for ACS hand-offs). Concurrent requests share one refresh, and a 401
replaces the rejected token once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

TokenFailure = Callable[[str, int | None, bool], Exception]  # (message, status, retryable) -> what to raise


class EntraToken:
    def __init__(
        self,
        *,
        authority_url: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        scope: str,
        label: str,
        failure: TokenFailure,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._url = f"{authority_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._form = {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "client_credentials",
            "scope": scope,
        }
        self._label = label
        self._failure = failure
        self._client = httpx.AsyncClient(timeout=timeout)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.fetches = 0

    async def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self._current()}"}

    async def refresh(self, rejected: dict[str, str]) -> bool:
        async with self._lock:
            if rejected.get("Authorization") == f"Bearer {self._token}":
                self._token = None  # another request may already have replaced it
        await self._current()
        return True

    async def _current(self) -> str:
        if self._token and self._clock() < self._expires_at:
            return self._token
        async with self._lock:
            if self._token and self._clock() < self._expires_at:
                return self._token
            self._token, lifetime = await self._fetch()
            # Renew a minute early (or at 90% of a short lifetime).
            self._expires_at = self._clock() + lifetime - min(60.0, lifetime * 0.1)
            return self._token

    async def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        try:
            response = await self._client.post(self._url, data=self._form)
        except httpx.HTTPError as exc:
            raise self._failure(f"{self._label}: token request failed: {type(exc).__name__}", None, True) from exc
        if response.status_code != 200:
            error = response.json().get("error", "") if "json" in response.headers.get("content-type", "") else ""
            raise self._failure(
                f"{self._label}: Entra ID refused the token request ({response.status_code} {error})",
                response.status_code,
                response.status_code >= 500 or response.status_code == 429,
            )
        body = response.json()
        return body["access_token"], float(body.get("expires_in", 3599))

    async def aclose(self) -> None:
        await self._client.aclose()
