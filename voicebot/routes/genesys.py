"""Genesys Cloud AudioConnector: the bot's websocket."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import APIRouter, WebSocket

from voicebot.pipeline.call import POLICY_VIOLATION, run_genesys_call

log = logging.getLogger(__name__)
router = APIRouter(prefix="/genesys")


def _authorised(websocket: WebSocket) -> bool:
    """The configured X-API-KEY is required; without one, only loopback clients may connect."""
    key = websocket.app.state.runtime.settings.genesys.api_key
    if key is not None:
        given = websocket.headers.get("x-api-key", "")
        return hmac.compare_digest(given.encode(), key.get_secret_value().encode())
    host = websocket.client.host if websocket.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.websocket("/audioconnector")
async def audioconnector(websocket: WebSocket) -> None:
    if not _authorised(websocket):
        log.warning("audioconnector connection refused: bad or missing X-API-KEY")
        await websocket.close(POLICY_VIOLATION)  # before accept: the upgrade is answered 403
        return
    await run_genesys_call(websocket, websocket.app.state.runtime)
