"""The browser softphone: call the bot from a web page over the Twilio media protocol."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from voicebot.routes.agent import require_agent

router = APIRouter()


@router.get("/phone", response_class=HTMLResponse)
async def phone(request: Request) -> str:
    """Same access as the agent desktop: the configured token, or loopback only."""
    require_agent(request)
    return resources.files("voicebot.static").joinpath("phone.html").read_text()
