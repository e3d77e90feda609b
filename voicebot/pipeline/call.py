"""One phone call's pipeline, once its platform's stream is open and the call admitted.

    websocket -> VAD -> turns (Whisper) -> conversation (dialogue + CRM tools) -> Piper -> websocket

How each platform's stream gets here is :mod:`voicebot.telephony.media`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import WebSocket
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams
from pipecat.workers.runner import WorkerRunner

from voicebot.dialogue import HandOverReason
from voicebot.pipeline.conversation import ConversationProcessor
from voicebot.pipeline.frames import HandOverFrame
from voicebot.pipeline.media_watch import MediaIdleWatch
from voicebot.pipeline.services import CallServices
from voicebot.pipeline.session import CallSession
from voicebot.pipeline.transport import CallTransport, Playout
from voicebot.pipeline.tts import PiperSpeaker
from voicebot.pipeline.turns import TurnPolicy, TurnTranscriber
from voicebot.server.calls import CallPlace
from voicebot.storage.records import CallInfo
from voicebot.telephony.control import CallControl
from voicebot.telephony.stream import CallSerializer
from voicebot.tools.ani import normalize_ani

log = logging.getLogger(__name__)

WHISPER_RATE = 16000


def call_processors(
    services: CallServices,
    session: CallSession,
    control: CallControl,
    mark_message: Callable[[str], dict[str, Any]],
) -> list[FrameProcessor]:
    """The speech pipeline between a platform's audio in and out, the same for every platform."""
    settings = services.settings
    vad = services.vad.for_call()
    return [
        MediaIdleWatch(settings.limits.idle_secs),
        # Direct mode: the analysis runs in the input transport's task, without a queue hop per frame.
        VADProcessor(vad_analyzer=vad, enable_direct_mode=True),
        TurnTranscriber(
            decoder=services.decoder,
            timings=services.timings,
            voice=vad,
            policy=TurnPolicy.from_settings(settings.turn),
            queue=services.inference,
            end_model=services.end_model,
        ),
        ConversationProcessor(
            session,
            control,
            silence_timeout=settings.dialogue.silence_timeout_secs,
            hints=settings.stt.hints,
            timings=services.timings,
        ),
        PiperSpeaker(services.renders, mark_message, services.timings),
    ]


def call_worker(pipeline: Pipeline, services: CallServices) -> PipelineWorker:
    return PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=WHISPER_RATE, audio_out_sample_rate=services.voice.sample_rate),
        idle_timeout_secs=None,
        enable_rtvi=False,
    )


async def run_worker(worker: PipelineWorker, session: CallSession, place: CallPlace) -> None:
    """Run the call's pipeline to its end; a shutdown may hand it to an agent meanwhile (``place.hand_over``)."""

    async def hand_over(reason: HandOverReason) -> None:
        await worker.queue_frame(HandOverFrame(reason=reason))

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    place.hand_over = hand_over
    try:
        await runner.run()
    except Exception:
        log.exception("call %s: pipeline failed", session.call.id)
        await session.fail("pipeline_error")
    finally:
        place.hand_over = None
        if session.outcome is None:
            await session.abandon("stream_closed")


async def run_call(
    websocket: WebSocket,
    services: CallServices,
    place: CallPlace,
    call: CallInfo,
    ani: str,
    serializer: CallSerializer,
    control: CallControl,
    after_output: list[FrameProcessor],
    playout: Playout = Playout(),
) -> None:
    settings = services.settings
    session = CallSession(services.session, call, normalize_ani(ani, settings.telephony.default_region))
    await session.begin()
    transport = CallTransport(
        websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
            audio_out_end_silence_secs=0,
            audio_out_10ms_chunks=playout.chunk_ms // 10,
            session_timeout=settings.limits.max_call_secs,
        ),
        lead_secs=playout.lead_ms / 1000,
        timings=services.timings,
    )
    pipeline = Pipeline(
        [
            transport.input(),
            *call_processors(services, session, control, serializer.mark_message),
            transport.output(),
            *after_output,
        ]
    )
    worker = call_worker(pipeline, services)

    @transport.event_handler("on_client_disconnected")
    async def on_disconnected(_transport, _client):
        await session.abandon("caller_hung_up")
        await worker.cancel()

    @transport.event_handler("on_session_timeout")
    async def on_time_limit(_transport, _client):
        await worker.queue_frame(HandOverFrame(reason="max_duration"))

    await run_worker(worker, session, place)
