"""Twilio's endpoints: the voice webhook, the media stream, after-stream and hold music."""

from __future__ import annotations

import asyncio
import io
import logging
import wave
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request, WebSocket
from fastapi.responses import Response

from voicebot.pipeline.call import run_twilio_call
from voicebot.tools.transfer import after_stream_twiml, connect_twiml, hold_twiml
from voicebot.tools.twilio_api import SIGNATURE_HEADER, valid_signature

log = logging.getLogger(__name__)
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
    """The POSTed form, after checking Twilio signed it (when an auth token is configured)."""
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    token = request.app.state.runtime.settings.twilio.auth_token
    if token is not None:
        url = public_url(request) + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        params = form if request.method == "POST" else {}
        if not valid_signature(url, params, token.get_secret_value(), request.headers.get(SIGNATURE_HEADER)):
            log.warning("rejected %s %s: bad or missing %s", request.method, request.url.path, SIGNATURE_HEADER)
            raise HTTPException(403, "invalid Twilio signature")
    return form


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
    await _form(request)
    return _twiml(hold_twiml(public_url(request)))


@router.get("/hold-prompt.wav")
async def hold_prompt(request: Request) -> Response:
    """The "your call is important" prompt, in the bot's voice (synthesised once, then cached)."""
    runtime = request.app.state.runtime
    pcm = await asyncio.to_thread(runtime.voice.synthesize, runtime.settings.transfer.hold_prompt)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(runtime.voice.sample_rate)
        w.writeframes(pcm)
    return Response(buffer.getvalue(), media_type="audio/wav")


@router.websocket("/media")
async def media(websocket: WebSocket) -> None:
    await run_twilio_call(websocket, websocket.app.state.runtime)
