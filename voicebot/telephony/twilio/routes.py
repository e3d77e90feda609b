"""Twilio's endpoints: the voice webhook, the media stream, after-stream and the hold loop."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from voicebot.server.access import stream_parameters
from voicebot.server.routes.public import public_url, requested_url, ws_url
from voicebot.server.state import runtime_of
from voicebot.telephony.markup import xml_reply
from voicebot.telephony.twilio.api import SIGNATURE_HEADER, valid_signature
from voicebot.telephony.twilio.twiml import after_stream_twiml, connect_twiml, hold_twiml
from voicebot.tools.transfer import handover_for

log = logging.getLogger(__name__)
router = APIRouter(prefix="/twilio")


async def _form(request: Request) -> dict[str, str]:
    """The POSTed form, after checking Twilio signed it (when an auth token is configured)."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    token = runtime_of(request).settings.twilio.auth_token
    if token is not None:
        url = requested_url(request)
        params = form if request.method == "POST" else {}
        if not valid_signature(url, params, token.get_secret_value(), request.headers.get(SIGNATURE_HEADER)):
            log.warning("rejected %s %s: bad or missing %s", request.method, request.url.path, SIGNATURE_HEADER)
            raise HTTPException(403, "invalid Twilio signature")
    return form


@router.post("/voice")
async def voice(request: Request) -> Response:
    form = await _form(request)
    base = public_url(request)
    token = stream_parameters(runtime_of(request).settings.access.media_secret, form.get("CallSid", ""))
    return xml_reply(connect_twiml(base, ws_url(base), form.get("From", ""), form.get("To", ""), token))


@router.post("/after-stream")
async def after_stream(request: Request) -> Response:
    runtime = runtime_of(request)
    form = await _form(request)
    handover = await handover_for(runtime.services.session.store, form.get("CallSid", ""), runtime.settings.transfer)
    return xml_reply(after_stream_twiml(handover, runtime.settings.transfer, public_url(request)))


@router.api_route("/hold", methods=["GET", "POST"])
async def hold(request: Request) -> Response:
    await _form(request)
    return xml_reply(hold_twiml(public_url(request)))
