"""Genesys Cloud AudioConnector: the bot's websocket."""

from __future__ import annotations

import logging

from fastapi import APIRouter, WebSocket

from voicebot.access import allowed
from voicebot.pipeline.call import POLICY_VIOLATION, run_genesys_call

log = logging.getLogger(__name__)
router = APIRouter(prefix="/genesys")


def _authorised(websocket: WebSocket) -> bool:
    """The configured X-API-KEY is required; without one, only local clients may connect."""
    key = websocket.app.state.runtime.settings.genesys.api_key
    client = websocket.client.host if websocket.client else None
    return allowed(key, websocket.headers.get("x-api-key", ""), client, websocket.headers)


@router.websocket("/audioconnector")
async def audioconnector(websocket: WebSocket) -> None:
    if not _authorised(websocket):
        log.warning("audioconnector connection refused: bad or missing X-API-KEY")
        await websocket.close(POLICY_VIOLATION)  # before accept: the upgrade is answered 403
        return
    await run_genesys_call(websocket, websocket.app.state.runtime)
