"""One phone call: the platform's handshake, the pipeline, and clean endings.

    websocket -> VAD -> turns (Whisper) -> conversation (dialogue + CRM tools) -> Piper -> websocket

The platforms differ only in their handshake, serializer and
:mod:`call control <voicebot.pipeline.call_control>`; a :class:`MediaStream`
names the three for each JSON media stream, and Genesys AudioHook has its own
handshake below.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner
from starlette.websockets import WebSocketDisconnect

from voicebot.access import media_allowed
from voicebot.pipeline import exotel, plivo, telnyx, twilio, vonage
from voicebot.pipeline.call_control import (
    CallControl,
    GenesysCallControl,
    RESTCallControl,
    StreamCloseCallControl,
    TwilioCallControl,
)
from voicebot.pipeline.conversation import ConversationProcessor
from voicebot.pipeline.frames import HandOverFrame
from voicebot.pipeline.genesys import GenesysMediaSerializer, parse_open, refuse
from voicebot.pipeline.media_stream import (
    HANDSHAKE_TIMEOUT_SECS,
    ProtocolError,
    StartParser,
    StreamStart,
    close_stream,
    read_start,
    send_unless_gone,
)
from voicebot.pipeline.media_watch import MediaIdleWatch
from voicebot.pipeline.playback_marks import PlaybackMarks
from voicebot.pipeline.transport import CallTransport
from voicebot.pipeline.tts import PiperSpeaker
from voicebot.pipeline.turns import TurnPolicy, TurnTranscriber
from voicebot.pipeline.vad import create_vad_analyzer
from voicebot.records import utcnow
from voicebot.runtime import TELEPHONE_RATE, Runtime
from voicebot.session import CallSession
from voicebot.tools.ani import normalize_ani
from voicebot.tools.screen_pop import CallInfo

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
POLICY_VIOLATION = 1008
TRY_AGAIN_LATER = 1013
NIL_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class MediaStream:
    """How one platform's media stream starts, is (de)serialized, and lets go of a call."""

    platform: str
    parse_start: StartParser
    serializer: Callable[[StreamStart], Any]
    control: Callable[[Runtime, StreamStart], CallControl]
    playback_marks: bool = False  # no mark echo on the wire: infer "heard" from the send pace
    out_chunk_ms: int = 40  # bot audio per outgoing message


def _rest_control(platform: str) -> Callable[[Runtime, StreamStart], CallControl]:
    def control(runtime: Runtime, start: StreamStart) -> CallControl:
        calls = getattr(runtime, platform)
        assert calls is not None, f"{platform} call control is not configured"
        return RESTCallControl(platform, calls, runtime.settings.transfer, start.dialed)

    return control


STREAMS = {
    "twilio": MediaStream(
        "twilio", twilio.parse_start, twilio.TwilioMediaSerializer, lambda rt, _: TwilioCallControl(rt.handover)
    ),
    "telnyx": MediaStream("telnyx", telnyx.parse_start, telnyx.TelnyxMediaSerializer, _rest_control("telnyx")),
    "plivo": MediaStream(
        "plivo", plivo.parse_start, plivo.PlivoMediaSerializer, lambda rt, _: StreamCloseCallControl()
    ),
    "exotel": MediaStream(
        "exotel",
        exotel.parse_start,
        exotel.ExotelMediaSerializer,
        lambda rt, _: StreamCloseCallControl(),
        out_chunk_ms=100,  # Exotel wants at least 100 ms per message
    ),
    "vonage": MediaStream(
        "vonage",
        vonage.parse_start,
        vonage.VonageMediaSerializer,
        _rest_control("vonage"),
        playback_marks=True,
        out_chunk_ms=20,  # Vonage plays 20 ms frames
    ),
}


async def run_stream_call(websocket: WebSocket, runtime: Runtime, stream: MediaStream) -> None:
    await websocket.accept()
    try:
        start = await read_start(websocket, stream.parse_start)
    except (ProtocolError, TimeoutError, KeyError, TypeError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        log.warning("%s media stream refused: %s", stream.platform, reason)
        await close_stream(websocket, POLICY_VIOLATION, reason[:120])
        return
    except WebSocketDisconnect:
        return
    if not _authorised(websocket, runtime, start):
        runtime.counters.add("calls_unauthorised")
        log.warning("%s media stream refused: no valid token for its call (access.media_secret)", stream.platform)
        await close_stream(websocket, POLICY_VIOLATION, "unauthorised")
        return
    if not _admit(runtime, stream.platform, start.call_id):
        # Twilio then asks /twilio/after-stream, which sends a call without a record to an agent.
        await close_stream(websocket, TRY_AGAIN_LATER, "over capacity")
        return
    try:
        serializer = stream.serializer(start)
        call = CallInfo(
            id=start.call_id,
            platform=stream.platform,
            stream_id=start.stream_id,
            dialed=start.dialed or None,
            started_at=utcnow(),
        )
        await _run(
            websocket,
            runtime,
            call,
            start.caller,
            serializer,
            stream.control(runtime, start),
            serializer.mark_message,
            [PlaybackMarks()] if stream.playback_marks else [],
            stream.out_chunk_ms,
        )
    finally:
        runtime.active_calls -= 1


async def run_genesys_call(websocket: WebSocket, runtime: Runtime) -> None:
    await websocket.accept()
    text = ""
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT_SECS):
            text = await websocket.receive_text()
        opened = parse_open(text)
    except (ProtocolError, TimeoutError, KeyError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        log.warning("audioconnector session refused: %s", reason)
        await refuse(websocket, _session_id(text), reason)
        return
    except WebSocketDisconnect:
        return
    if not _admit(runtime, "genesys", opened.conversation_id):
        await refuse(websocket, opened.session_id, "over capacity")
        return
    try:
        serializer = GenesysMediaSerializer()
        reply = await serializer.deserialize(text)  # "opened", sent before any audio flows
        if not await send_unless_gone(websocket, json.dumps(reply.message)):
            log.info("audioconnector session %s closed before it was opened", opened.session_id)
            return
        call = CallInfo(
            id=opened.conversation_id,
            platform="genesys",
            stream_id=opened.session_id,
            dialed=opened.dnis or None,
            started_at=utcnow(),
        )
        await _run(
            websocket,
            runtime,
            call,
            opened.ani,
            serializer,
            GenesysCallControl(serializer),
            serializer.mark_message,
            [PlaybackMarks()],
        )
    finally:
        runtime.active_calls -= 1


async def _run(
    websocket: WebSocket,
    runtime: Runtime,
    call: CallInfo,
    ani: str,
    serializer: FrameSerializer,
    control: CallControl,
    mark_message: Callable[[str], dict[str, Any]],
    after_output: list[FrameProcessor],
    out_chunk_ms: int = 40,
) -> None:
    settings = runtime.settings
    session = CallSession(runtime, call, normalize_ani(ani, settings.telephony.default_region))
    await session.begin()
    transport = CallTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
            audio_out_end_silence_secs=0,
            audio_out_10ms_chunks=out_chunk_ms // 10,
            session_timeout=settings.limits.max_call_secs,
        ),
    )
    vad = create_vad_analyzer(settings.vad)
    pipeline = Pipeline(
        [
            transport.input(),
            MediaIdleWatch(settings.limits.idle_secs),
            VADProcessor(vad_analyzer=vad),
            TurnTranscriber(
                decoder=runtime.decoder,
                timings=runtime.timings,
                last_voice=lambda: vad.last_voice,
                policy=TurnPolicy.from_settings(settings.turn),
                queue=runtime.inference,
                end_model=runtime.end_model,
            ),
            ConversationProcessor(
                session,
                control,
                silence_timeout=settings.dialogue.silence_timeout_secs,
                hints=settings.stt.hints,
            ),
            PiperSpeaker(runtime.voice, mark_message, runtime.timings, runtime.inference),
            transport.output(),
            *after_output,
        ]
    )
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=WHISPER_RATE, audio_out_sample_rate=TELEPHONE_RATE),
        idle_timeout_secs=None,
        enable_rtvi=False,
    )

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport, _client):
        await session.abandon("caller_hung_up")
        await worker.cancel()

    async def hand_over(reason: str) -> None:
        await worker.queue_frame(HandOverFrame(reason=reason))

    @transport.event_handler("on_session_timeout")
    async def on_time_limit(_transport, _client):
        await hand_over("max_duration")

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    runtime.hand_over[call.id] = hand_over
    try:
        await runner.run()
    except Exception:
        log.exception("call %s: pipeline failed", call.id)
        await session.fail("pipeline_error")
    finally:
        runtime.hand_over.pop(call.id, None)
        if session.outcome is None:
            await session.abandon("stream_closed")


def _authorised(websocket: WebSocket, runtime: Runtime, start: StreamStart) -> bool:
    """The call's token from the start message's parameters or the stream URL (see :mod:`voicebot.access`)."""
    given = start.parameters.get("token") or websocket.query_params.get("token", "")
    client = websocket.client.host if websocket.client else None
    return media_allowed(runtime.settings.access.media_secret, start.call_id, given, client, websocket.headers)


def _admit(runtime: Runtime, platform: str, call_id: str) -> bool:
    """Count the call in, or refuse it: ``limits.max_calls`` in progress, or shutting down (the caller decrements)."""
    limit = runtime.settings.limits.max_calls
    if runtime.draining or runtime.active_calls >= limit:
        runtime.counters.add("calls_refused")
        why = "shutting down" if runtime.draining else f"{limit} calls in progress (limits.max_calls)"
        log.warning("%s call %s refused: %s", platform, call_id, why)
        return False
    runtime.active_calls += 1
    return True


def _session_id(text: str) -> str:
    """The session id of a refused ``open``, if it had one."""
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        message = None
    return str(message.get("id") or NIL_UUID) if isinstance(message, dict) else NIL_UUID
