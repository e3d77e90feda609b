"""The agent desktop: live calls and screen pops, pushed to the browser with server-sent events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from voicebot.server.state import runtime_of

router = APIRouter(prefix="/agent")  # behind voicebot.server.access.OperatorAccess

KEEPALIVE_SECS = 15.0


@router.get("", response_class=HTMLResponse)
async def desktop() -> str:
    return resources.files("voicebot.static").joinpath("agent.html").read_text()


@router.get("/events")
async def events(request: Request) -> StreamingResponse:
    live = runtime_of(request).services.session.events

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
