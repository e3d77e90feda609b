"""Telnyx: the Call Control webhook that answers calls onto the media stream, and the stream itself."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from voicebot.server.access import stream_parameters
from voicebot.server.routes.public import public_url, ws_url
from voicebot.server.state import runtime_of
from voicebot.telephony.telnyx.api import TelnyxAPIError
from voicebot.telephony.telnyx.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, valid_signature

log = logging.getLogger(__name__)
router = APIRouter(prefix="/telnyx")

NOT_CONFIGURED = "telnyx.api_key is not configured: Telnyx calls cannot be answered, transferred or hung up"


@router.post("/webhook")
async def webhook(request: Request) -> Response:
    """``call.initiated`` for an incoming call: answer it with a bidirectional stream to ``/telnyx/media``."""
    runtime = runtime_of(request)
    key = runtime.telnyx_public_key
    if key is not None and not valid_signature(
        key, await request.body(), request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
    ):
        log.warning("telnyx: rejected a webhook: bad, missing or stale %s", SIGNATURE_HEADER)
        return Response("invalid Telnyx signature", status_code=403)
    try:
        event = await request.json()
        data = event["data"]
        payload = data["payload"]
    except (ValueError, KeyError, TypeError):
        return Response("expected a Telnyx webhook event", status_code=400)
    if data.get("event_type") != "call.initiated" or payload.get("direction") != "incoming":
        return Response(status_code=200)
    if runtime.telnyx is None:
        log.error(NOT_CONFIGURED)
        return Response(NOT_CONFIGURED, status_code=503)
    try:
        call_id = payload["call_control_id"]
        token = stream_parameters(runtime.settings.access.media_secret, str(call_id))
        stream_url = ws_url(public_url(request)) + "/telnyx/media" + (f"?{urlencode(token)}" if token else "")
        await runtime.telnyx.answer_with_stream(call_id, stream_url)
    except (KeyError, TelnyxAPIError) as exc:
        log.error("telnyx: could not answer a call: %s", exc)
        return Response(status_code=502)
    return Response(status_code=200)
