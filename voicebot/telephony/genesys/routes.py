"""Genesys Cloud AudioConnector: the bot's websocket has no webhooks beside it; its API key guards the upgrade."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from voicebot.server.access import allowed
from voicebot.server.runtime import Runtime

router = APIRouter(prefix="/genesys")


async def api_key_valid(websocket: WebSocket, runtime: Runtime) -> bool:
    """The configured X-API-KEY is required; without one, only local clients may connect."""
    key = runtime.settings.genesys.api_key
    client = websocket.client.host if websocket.client else None
    return allowed(key, websocket.headers.get("x-api-key", ""), client, websocket.headers)
