"""A Webex call from SESSION_START to its terminal response: admitted, recorded and run like every other call."""

from __future__ import annotations

import asyncio
import logging

from pipecat.pipeline.pipeline import Pipeline

from voicebot.pipeline.call import call_processors, call_worker, run_worker
from voicebot.pipeline.frames import HandOverFrame
from voicebot.pipeline.playback_marks import local_mark
from voicebot.pipeline.services import CallServices
from voicebot.pipeline.session import CallSession
from voicebot.server.calls import CallRegistry
from voicebot.storage.records import CallInfo
from voicebot.telephony.webex.control import WebexCallControl, terminal_event, transcript_text, transfer_event
from voicebot.telephony.webex.conversation import WebexConversation
from voicebot.telephony.webex.output import WebexOutput
from voicebot.tools.ani import normalize_ani
from voicebot.tools.transfer import after_stream_target

log = logging.getLogger(__name__)


async def run_conversation(
    conversation: WebexConversation,
    services: CallServices,
    calls: CallRegistry,
    call: CallInfo,
    caller: str,
    details: dict[str, str],
) -> None:
    settings = services.settings
    try:
        with calls.admitted("webex", call.id) as place:
            if place is None:  # over capacity or shutting down: the caller goes to an agent, not into silence
                target = after_stream_target(None, None, settings.transfer)
                assert target is not None
                conversation.let_go(transfer_event(target, "over_capacity", None, call.id))
                return
            session = CallSession(services.session, call, normalize_ani(caller, settings.telephony.default_region))
            await session.begin()
            await session.record_event("webex_session", **details)
            control = WebexCallControl(conversation, settings.transfer)
            output = WebexOutput(conversation, streaming=settings.webex.reply_mode == "chunk")
            pipeline = Pipeline([*call_processors(services, session, control, local_mark), output])
            worker = call_worker(pipeline, services)
            conversation.worker = worker

            def time_is_up() -> None:
                asyncio.ensure_future(worker.queue_frame(HandOverFrame(reason="max_duration")))

            limit = asyncio.get_running_loop().call_later(settings.limits.max_call_secs, time_is_up)
            try:
                await run_worker(worker, session, place)
            finally:
                limit.cancel()
                if conversation.terminal is None and not conversation.caller_left:
                    # The pipeline ended without a hand-off of its own (a fault): the caller still goes somewhere.
                    event, summary = terminal_event(session, None, settings.transfer)
                    conversation.let_go(event, summary, transcript_text(session))
    finally:
        conversation.release()
        conversation.ended.set()
