"""Twilio: with REST credentials the live call is redirected first, then the stream closes."""

from __future__ import annotations

from pipecat.processors.frame_processor import FrameProcessor

from voicebot.pipeline.session import CallSession
from voicebot.telephony.control import StreamCloseCallControl, end_pipeline
from voicebot.telephony.twilio.twiml import TwilioHandover
from voicebot.tools.screen_pop import ScreenPop


class TwilioCallControl(StreamCloseCallControl):
    def __init__(self, handover: TwilioHandover):
        self.handover = handover

    async def end(self, processor: FrameProcessor, session: CallSession, pop: ScreenPop | None) -> None:
        if pop is not None and session.transfer_record is not None:
            via = await self.handover.transfer(session.call.id, session.transfer_record)
            await session.record_event("transfer_via", via=via)
        # Closing the stream makes Twilio ask /twilio/after-stream (unless REST already moved the call).
        await end_pipeline(processor)
