"""Which Teams agents can take a call now: Microsoft Graph's presence, in one request for all of them.

``POST /v1.0/communications/getPresencesByUserId`` with an app-only token
(client credentials, ``Presence.Read.All``). An agent whose availability is
``Available`` or ``AvailableIdle`` is free; Busy, Away, BeRightBack,
DoNotDisturb, Offline and unknown are not. Graph answers at most 650 ids per
request.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from voicebot.config import GraphSettings
from voicebot.telephony.errors import PlatformAPIError
from voicebot.tools.entra import EntraToken

FREE = frozenset({"Available", "AvailableIdle"})
MAX_IDS = 650


class GraphError(PlatformAPIError):
    pass


def _failure(message: str, status: int | None, retryable: bool) -> Exception:
    return GraphError(message, status)


class GraphPresence:
    def __init__(self, settings: GraphSettings, timeout: float = 5.0):
        assert settings.client_secret is not None
        self._url = settings.url.rstrip("/") + "/v1.0/communications/getPresencesByUserId"
        self.token = EntraToken(
            authority_url=settings.authority_url,
            tenant_id=settings.tenant_id,
            client_id=settings.client_id,
            client_secret=settings.client_secret.get_secret_value(),
            scope=settings.url.rstrip("/") + "/.default",
            label="graph",
            failure=_failure,
            timeout=timeout,
        )
        self._client = httpx.AsyncClient(timeout=timeout)

    async def availability(self, object_ids: list[str]) -> Mapping[str, str]:
        """Each agent's availability (``PresenceUnknown`` for one Graph did not report)."""
        found: dict[str, str] = {}
        for at in range(0, len(object_ids), MAX_IDS):
            found |= await self._batch(object_ids[at : at + MAX_IDS])
        return {oid: found.get(oid.lower(), "PresenceUnknown") for oid in object_ids}

    async def _batch(self, ids: list[str]) -> dict[str, str]:
        for attempt in (1, 2):
            headers = await self.token.headers()
            try:
                response = await self._client.post(self._url, json={"ids": ids}, headers=headers)
            except httpx.HTTPError as exc:
                raise GraphError(f"graph: presence request failed: {type(exc).__name__}") from exc
            if response.status_code == 401 and attempt == 1:
                await self.token.refresh(headers)
                continue
            if response.status_code != 200:
                raise GraphError(f"graph: presence answered {response.status_code}", response.status_code)
            return {
                str(p.get("id", "")).lower(): str(p.get("availability", "PresenceUnknown"))
                for p in response.json().get("value", [])
                if isinstance(p, dict)
            }
        raise GraphError("graph: presence refused a fresh token", 401)

    async def aclose(self) -> None:
        await self._client.aclose()
        await self.token.aclose()
