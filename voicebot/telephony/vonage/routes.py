"""Vonage: the answer URL (an NCCO that connects the caller to ``/vonage/media``), events, and the stream."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from voicebot.server.access import stream_parameters
from voicebot.server.routes.public import public_url, ws_url
from voicebot.server.state import runtime_of
from voicebot.telephony.vonage.api import answer_ncco

log = logging.getLogger(__name__)
router = APIRouter(prefix="/vonage")

NOT_CONFIGURED = (
    "vonage.application_id and vonage.private_key are not configured: Vonage calls cannot be transferred or hung up"
)


async def _params(request: Request) -> dict[str, str]:
    """Vonage sends the answer request as a query string (GET) or JSON (POST)."""
    params = dict(request.query_params)
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if isinstance(body, dict):
            params.update({k: str(v) for k, v in body.items()})
    return params


@router.api_route("/answer", methods=["GET", "POST"])
async def answer(request: Request) -> Response:
    if runtime_of(request).vonage is None:
        log.error(NOT_CONFIGURED)
        return JSONResponse({"error": NOT_CONFIGURED}, status_code=503)
    params = await _params(request)
    if not params.get("uuid"):
        return JSONResponse({"error": "the answer request has no uuid"}, status_code=400)
    base = public_url(request)
    token = stream_parameters(runtime_of(request).settings.access.media_secret, params["uuid"])
    caller, dialed = params.get("from", ""), params.get("to", "")
    return JSONResponse(answer_ncco(base, ws_url(base), caller, dialed, params["uuid"], token))


@router.api_route("/event", methods=["GET", "POST"])
async def event(request: Request) -> Response:
    """Call status events: acknowledged (the call record already has what happened)."""
    return Response(status_code=204)
