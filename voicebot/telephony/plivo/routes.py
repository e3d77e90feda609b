"""Plivo: the answer URL, the media stream, the after-stream redirect and the queue's wait sound."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from voicebot.server.access import stream_parameters
from voicebot.server.routes.public import public_url, requested_url, ws_url
from voicebot.server.state import runtime_of
from voicebot.telephony.markup import xml_reply
from voicebot.telephony.plivo.signature import NONCE_HEADER, SIGNATURE_HEADER, valid_signature
from voicebot.telephony.plivo.xml import after_stream_xml, answer_xml, hold_xml
from voicebot.tools.transfer import handover_for

log = logging.getLogger(__name__)
router = APIRouter(prefix="/plivo")


async def _params(request: Request) -> dict[str, str]:
    """Plivo sends its parameters as a form (POST) or a query string (GET), signed when an auth token is set."""
    form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    token = runtime_of(request).settings.plivo.auth_token
    if token is not None:
        url = requested_url(request)
        fields = form if request.method == "POST" else {}
        nonce = request.headers.get(NONCE_HEADER, "")
        if not valid_signature(
            token.get_secret_value(), request.method, url, fields, nonce, request.headers.get(SIGNATURE_HEADER)
        ):
            log.warning("rejected %s %s: bad or missing %s", request.method, request.url.path, SIGNATURE_HEADER)
            raise HTTPException(403, "invalid Plivo signature")
    params = dict(request.query_params)
    if request.method == "POST":
        params.update({key: values[-1] for key, values in form.items()})
    return params


@router.api_route("/answer", methods=["GET", "POST"])
async def answer(request: Request) -> Response:
    params = await _params(request)
    base = public_url(request)
    token = stream_parameters(runtime_of(request).settings.access.media_secret, params.get("CallUUID", ""))
    return xml_reply(answer_xml(base, ws_url(base), params.get("From", ""), params.get("To", ""), token))


@router.api_route("/after-stream", methods=["GET", "POST"])
async def after_stream(request: Request) -> Response:
    runtime = runtime_of(request)
    call_uuid = (await _params(request)).get("CallUUID", "")
    handover = await handover_for(runtime.services.session.store, call_uuid, runtime.settings.transfer)
    return xml_reply(after_stream_xml(handover, runtime.settings.transfer, public_url(request)))


@router.api_route("/hold", methods=["GET", "POST"])
async def hold(request: Request) -> Response:
    await _params(request)
    return xml_reply(hold_xml(public_url(request)))
