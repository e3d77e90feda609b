"""``GET /metrics``: the Prometheus text exposition, behind the operator token like ``/api/*``.

Prometheus presents the token as ``authorization: {credentials: ...}`` (a
Bearer header) in its scrape config.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from voicebot.server.prometheus import CONTENT_TYPE
from voicebot.server.state import runtime_of

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    session = runtime.services.session
    session.metrics.outbox(await session.outbox.counts(), await session.outbox.oldest_pending())
    return Response(session.metrics.exposition(), media_type=CONTENT_TYPE)
