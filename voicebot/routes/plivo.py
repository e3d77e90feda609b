"""Plivo: the answer URL, the media stream, the after-stream redirect and the queue's wait sound."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response

from voicebot.access import stream_parameters
from voicebot.pipeline.call import STREAMS, run_stream_call
from voicebot.routes.public import public_url, ws_url
from voicebot.tools.plivo_xml import after_stream_xml, answer_xml, hold_xml
from voicebot.tools.transfer import handover_for

router = APIRouter(prefix="/plivo")


async def _params(request: Request) -> dict[str, str]:
    """Plivo sends its parameters as a form (POST) or a query string (GET)."""
    params = dict(request.query_params)
    if request.method == "POST":
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _xml(body: str) -> Response:
    return Response(body, media_type="application/xml")


@router.api_route("/answer", methods=["GET", "POST"])
async def answer(request: Request) -> Response:
    params = await _params(request)
    base = public_url(request)
    token = stream_parameters(request.app.state.runtime.settings.access.media_secret, params.get("CallUUID", ""))
    return _xml(answer_xml(base, ws_url(base), params.get("From", ""), params.get("To", ""), token))


@router.api_route("/after-stream", methods=["GET", "POST"])
async def after_stream(request: Request) -> Response:
    runtime = request.app.state.runtime
    call_uuid = (await _params(request)).get("CallUUID", "")
    handover = await handover_for(runtime.store, call_uuid, runtime.settings.transfer)
    return _xml(after_stream_xml(handover, runtime.settings.transfer, public_url(request)))


@router.api_route("/hold", methods=["GET", "POST"])
async def hold(request: Request) -> Response:
    return _xml(hold_xml(public_url(request)))


@router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    await run_stream_call(websocket, websocket.app.state.runtime, STREAMS["plivo"])
