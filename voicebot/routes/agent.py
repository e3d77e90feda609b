"""The agent desktop: live calls and screen pops, pushed to the browser with server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from voicebot.routes.access import allowed

router = APIRouter(prefix="/agent")

KEEPALIVE_SECS = 15.0


def require_agent(request: Request) -> None:
    """A configured token is required from everyone; without one, only loopback clients get in."""
    token = request.app.state.runtime.settings.agent.token
    given = request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if allowed(token, given, request.client.host if request.client else None):
        return
    if token is not None:
        raise HTTPException(401, "agent desktop token required")
    raise HTTPException(403, "set agent.token to open the agent desktop from another machine")


@router.get("", response_class=HTMLResponse)
async def desktop(request: Request) -> str:
    require_agent(request)
    return resources.files("voicebot.static").joinpath("agent.html").read_text()


@router.get("/events")
async def events(request: Request) -> StreamingResponse:
    require_agent(request)
    live = request.app.state.runtime.events

    async def stream() -> AsyncIterator[str]:
        yield _sse("snapshot", {"calls": live.snapshot()})
        updates = live.subscribe()
        pending = asyncio.ensure_future(anext(updates))
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=KEEPALIVE_SECS)
                if not done:
                    yield ": keep-alive\n\n"
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    return
                yield _sse(event["kind"], event)
                pending = asyncio.ensure_future(anext(updates))
        finally:
            pending.cancel()
            await updates.aclose()

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"
