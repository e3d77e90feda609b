"""Exotel: the Voicebot applet's stream, and the two URLs the flow asks after it.

Flow: Voicebot applet (``/exotel/media``) -> Passthru (``/exotel/outcome``:
200 = hand over, 302 = the bot said goodbye) -> Connect applet whose "dial
whom" URL is ``/exotel/dial-whom`` (the number for this caller), or Hangup.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from voicebot.server.state import runtime_of
from voicebot.tools.transfer import TransferTarget, handover_for

router = APIRouter(prefix="/exotel")


async def _handover(request: Request) -> TransferTarget | None:
    runtime = runtime_of(request)
    return await handover_for(
        runtime.services.session.store, request.query_params.get("CallSid", ""), runtime.settings.transfer
    )


@router.get("/outcome")
async def outcome(request: Request) -> Response:
    """Passthru: 200 sends the caller on to the Connect applet, 302 to the hang-up branch."""
    if await _handover(request) is None:
        return Response("completed", status_code=302)
    return PlainTextResponse("transfer")


@router.get("/dial-whom")
async def dial_whom(request: Request) -> Response:
    """Connect applet's "dial whom" URL: the number to put this caller through to.

    Exotel dials numbers; a queue target (``transfer.mode = "enqueue"``) has no
    number, so the configured agent number is given instead.
    """
    settings = runtime_of(request).settings.transfer
    handover = await _handover(request)
    number = handover.target if handover is not None and handover.mode == "dial" else settings.agent_number
    return PlainTextResponse(number)
