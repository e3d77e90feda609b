"""Genesys AudioConnector: the call ends with ``disconnect`` and output variables the Architect flow reads."""

from __future__ import annotations

import asyncio
import logging

from pipecat.frames.frames import OutputTransportMessageUrgentFrame
from pipecat.processors.frame_processor import FrameProcessor

from voicebot.pipeline.session import CallSession
from voicebot.telephony.control import as_proposed, end_pipeline
from voicebot.telephony.genesys.stream import GenesysMediaSerializer
from voicebot.tools.screen_pop import ScreenPop

log = logging.getLogger(__name__)

# Longest wait for Genesys to answer our ``disconnect`` with ``close`` before we close anyway.
PEER_CLOSE_TIMEOUT_SECS = 5.0
SUMMARY_MAX_CHARS = 1000


class GenesysCallControl:
    choose = staticmethod(as_proposed)

    def __init__(self, serializer: GenesysMediaSerializer):
        self.serializer = serializer
        self._closed = asyncio.Event()

    async def end(self, processor: FrameProcessor, session: CallSession, pop: ScreenPop | None) -> None:
        if pop is not None:
            variables = output_variables(pop)
        else:  # a goodbye ends the call; anything else (an error) still goes to an agent
            variables = {"action": "finished" if session.outcome == "completed" else "transfer"}
        message = self.serializer.disconnect("completed", variables)
        await processor.push_frame(OutputTransportMessageUrgentFrame(message=message))
        await self._await_close(processor)

    async def peer_closed(self, processor: FrameProcessor, reply: dict | None) -> None:
        if reply is not None:
            await processor.push_frame(OutputTransportMessageUrgentFrame(message=reply))
        self._closed.set()
        await end_pipeline(processor)

    async def violated(self, processor: FrameProcessor, session: CallSession, reason: str) -> None:
        if self.serializer.disconnected:
            return  # one disconnect per session; Genesys's close is awaited
        log.warning("genesys session %s: protocol error: %s", self.serializer.session_id, reason)
        message = self.serializer.disconnect("error", info=reason)
        await processor.push_frame(OutputTransportMessageUrgentFrame(message=message))
        await self._await_close(processor)

    async def _await_close(self, processor: FrameProcessor) -> None:
        try:
            await asyncio.wait_for(self._closed.wait(), PEER_CLOSE_TIMEOUT_SECS)
        except TimeoutError:
            log.warning("genesys session %s: no 'close' after 'disconnect'; closing", self.serializer.session_id)
            await end_pipeline(processor)


def output_variables(pop: ScreenPop) -> dict[str, str]:
    """What an Architect flow reads after the Call Audio Connector action: strings only."""
    return {
        "action": "transfer",
        "queue": pop.transfer.target,
        "reason": pop.reason,
        "customerId": pop.customer.id if pop.customer else "",
        "customerName": pop.customer.name if pop.customer else "",
        "caseNumber": pop.case.number if pop.case else "",
        "screenPopUrl": pop.action.url,
        "screenPopId": pop.id,
        "summary": pop.summary[:SUMMARY_MAX_CHARS],
    }
