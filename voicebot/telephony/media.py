"""The one way into a call, for every platform: upgrade, handshake, authorise, admit, run, count out."""

from __future__ import annotations

import logging

from fastapi import WebSocket
from starlette.status import WS_1008_POLICY_VIOLATION, WS_1013_TRY_AGAIN_LATER
from starlette.websockets import WebSocketDisconnect

from voicebot.pipeline.call import run_call
from voicebot.pipeline.playback_marks import PlaybackMarks
from voicebot.server.access import media_allowed
from voicebot.server.runtime import Runtime
from voicebot.storage.records import CallInfo, utcnow
from voicebot.telephony.platform import Platform
from voicebot.telephony.stream import ProtocolError, StreamStart, close_stream

log = logging.getLogger(__name__)


async def serve_media(websocket: WebSocket, runtime: Runtime, platform: Platform) -> None:
    if not await platform.upgrade_allowed(websocket, runtime):
        runtime.services.session.counters.add("calls_unauthorised")
        runtime.services.session.metrics.refusals.labels("unauthorised").inc()
        log.warning("%s media stream refused: not authorised", platform.name)
        await websocket.close(WS_1008_POLICY_VIOLATION)  # before accept: the upgrade is answered 403
        return
    if (why := platform.unavailable(runtime)) is not None:
        log.error("%s media stream refused: %s", platform.name, why)
        await websocket.close(WS_1008_POLICY_VIOLATION)
        return
    await websocket.accept()
    handshake = platform.handshake()
    try:
        start = await handshake.open(websocket)
    except (ProtocolError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        log.warning("%s media stream refused: %s", platform.name, reason)
        await handshake.refuse(websocket, WS_1008_POLICY_VIOLATION, reason)
        return
    except WebSocketDisconnect:
        return
    if platform.media_token and not _token_valid(websocket, runtime, start):
        runtime.services.session.counters.add("calls_unauthorised")
        runtime.services.session.metrics.refusals.labels("unauthorised").inc()
        log.warning("%s media stream refused: no valid token for its call (access.media_secret)", platform.name)
        await close_stream(websocket, WS_1008_POLICY_VIOLATION, "unauthorised")
        return
    with runtime.calls.admitted(platform.name, start.call_id) as place:
        if place is None:
            # Twilio then asks /twilio/after-stream, which sends a call without a record to an agent.
            await handshake.refuse(websocket, WS_1013_TRY_AGAIN_LATER, "over capacity")
            return
        serializer = platform.serializer(start)
        if not await handshake.opened(websocket, serializer):
            log.info("%s stream %s closed before it was opened", platform.name, start.stream_id)
            return
        call = CallInfo(
            id=start.call_id,
            platform=platform.name,
            stream_id=start.stream_id,
            dialed=start.dialed or None,
            started_at=utcnow(),
        )
        await run_call(
            websocket,
            runtime.services,
            place,
            call,
            start.caller,
            serializer,
            platform.control(runtime, start, serializer),
            [PlaybackMarks()] if platform.playback_marks else [],
            platform.playout,
        )


def _token_valid(websocket: WebSocket, runtime: Runtime, start: StreamStart) -> bool:
    """The call's token from the start message's parameters or the stream URL (see :mod:`voicebot.server.access`)."""
    given = start.parameters.get("token") or websocket.query_params.get("token", "")
    client = websocket.client.host if websocket.client else None
    return media_allowed(runtime.settings.access.media_secret, start.call_id, given, client, websocket.headers)
