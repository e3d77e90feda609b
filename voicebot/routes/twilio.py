"""Twilio's endpoints: the voice webhook, the media stream, after-stream and hold music."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import Response

from voicebot.pipeline.call import run_twilio_call
from voicebot.tools.transfer import after_stream_twiml, connect_twiml, hold_twiml

router = APIRouter(prefix="/twilio")


def public_url(request: Request) -> str:
    """The configured public URL, else the one this request came in on."""
    configured = request.app.state.runtime.settings.server.public_url
    if configured:
        return configured.rstrip("/")
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    return f"{proto}://{host}"


def ws_url(http_url: str) -> str:
    return "wss://" + http_url[8:] if http_url.startswith("https://") else "ws://" + http_url.removeprefix("http://")


async def _form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def _twiml(body: str) -> Response:
    return Response(body, media_type="application/xml")


@router.post("/voice")
async def voice(request: Request) -> Response:
    form = await _form(request)
    base = public_url(request)
    return _twiml(connect_twiml(base, ws_url(base), form.get("From", ""), form.get("To", "")))


@router.post("/after-stream")
async def after_stream(request: Request) -> Response:
    runtime = request.app.state.runtime
    form = await _form(request)
    record = await runtime.store.get(form.get("CallSid", "")) if form.get("CallSid") else None
    outcome = record.outcome if record else None
    transfer = record.transfer if record else None
    return _twiml(after_stream_twiml(outcome, transfer, runtime.settings.transfer, public_url(request)))


@router.api_route("/hold", methods=["GET", "POST"])
async def hold(request: Request) -> Response:
    return _twiml(hold_twiml(public_url(request)))


@router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    await run_twilio_call(websocket, websocket.app.state.runtime)
