"""The browser softphone: call the bot from a web page over the Twilio media protocol."""

from __future__ import annotations

import uuid
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from voicebot.server.access import stream_parameters
from voicebot.server.state import runtime_of

router = APIRouter(prefix="/phone")  # behind voicebot.server.access.OperatorAccess, like the agent desktop


@router.get("", response_class=HTMLResponse)
async def phone() -> str:
    return resources.files("voicebot.static").joinpath("phone.html").read_text()


@router.post("/ticket")
async def ticket(request: Request) -> dict:
    """A call id and the media token for it: what Twilio's webhook answer would give a real call."""
    call_sid = "CA" + uuid.uuid4().hex
    secret = runtime_of(request).settings.access.media_secret
    return {"call_sid": call_sid, "parameters": stream_parameters(secret, call_sid)}
