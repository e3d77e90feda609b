"""``GET /metrics``: the Prometheus text exposition, behind the operator token like ``/api/*``.

Prometheus presents the token as ``authorization: {credentials: ...}`` (a
Bearer header) in its scrape config.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from voicebot.server.prometheus import CONTENT_TYPE
from voicebot.server.state import runtime_of

log = logging.getLogger(__name__)

router = APIRouter()


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    runtime = runtime_of(request)
    session = runtime.services.session
    session.metrics.store_held.set(runtime.storage.calls.held + session.outbox.held)
    try:
        session.metrics.outbox(await session.outbox.counts(), await session.outbox.oldest_pending())
    except Exception as exc:  # the store is away: the scrape still answers, with the outbox's last figures
        log.warning("/metrics: outbox figures unavailable (%s: %s)", type(exc).__name__, exc)
        session.metrics.store_errors.inc()
    return Response(session.metrics.exposition(), media_type=CONTENT_TYPE)
