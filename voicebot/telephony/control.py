"""How a call ends on each platform, once the dialogue has decided.

The dialogue says "transfer, with this reason and this pop" or "goodbye"; the
session records it; a :class:`CallControl` then tells the platform. This is the
one place that knows how each platform lets go of a call:

- closing the stream hands the call back to the platform's own flow, which asks
  us what next (Twilio ``<Connect action>``, Plivo ``<Redirect>``, Exotel's next
  applet): :class:`StreamCloseCallControl`;
- Twilio with REST credentials updates the live call first;
- Telnyx, Vonage and ACS streams are forks of the call, so the bot transfers or
  hangs up with a REST command (:class:`RESTCallControl`);
- each platform package adds its own where it differs (Twilio's REST redirect,
  Genesys's ``disconnect`` with output variables).
"""

from __future__ import annotations

import logging
from typing import Protocol

from pipecat.frames.frames import EndWorkerFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.config import TransferSettings
from voicebot.pipeline.session import CallSession
from voicebot.telephony.errors import PlatformAPIError
from voicebot.tools.screen_pop import ScreenPop
from voicebot.tools.transfer import TransferTarget, after_stream_target

log = logging.getLogger(__name__)


class CallControl(Protocol):
    async def end(self, processor: FrameProcessor, session: CallSession, pop: ScreenPop | None) -> None:
        """The outcome is recorded: hand the caller over (``pop``) or hang up, then end the pipeline."""
        ...

    async def peer_closed(self, processor: FrameProcessor, reply: dict | None) -> None:
        """The platform ended the session; acknowledge if it wants that, then end the pipeline."""
        ...

    async def violated(self, processor: FrameProcessor, session: CallSession, reason: str) -> None:
        """The platform broke its protocol: end the session as the protocol says."""
        ...

    async def choose(self, proposed: TransferTarget, reason: str) -> TransferTarget:
        """The platform's say in where a caller goes, before the pop is built (``proposed`` from ``transfer.*``)."""
        ...


async def as_proposed(proposed: TransferTarget, reason: str) -> TransferTarget:
    """Most platforms send a caller where ``transfer.*`` says."""
    return proposed


async def end_pipeline(processor: FrameProcessor) -> None:
    await processor.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)


class StreamCloseCallControl:
    """Close the stream; the platform's flow then asks us where the caller goes (see the routes)."""

    choose = staticmethod(as_proposed)

    async def end(self, processor: FrameProcessor, session: CallSession, pop: ScreenPop | None) -> None:
        await end_pipeline(processor)

    async def peer_closed(self, processor: FrameProcessor, reply: dict | None) -> None:
        await end_pipeline(processor)

    async def violated(self, processor: FrameProcessor, session: CallSession, reason: str) -> None:
        await end_pipeline(processor)


class PlatformCalls(Protocol):
    """A platform's call-control REST API, as :class:`RESTCallControl` needs it."""

    async def hand_over(self, call_id: str, target: TransferTarget, pop: ScreenPop | None, dialed: str) -> None: ...

    async def hang_up(self, call_id: str) -> None: ...


class RESTCallControl(StreamCloseCallControl):
    """For streams that are forks of the call (Telnyx, Vonage, ACS): the bot transfers or hangs up by REST.

    A call the bot did not finish goes to an agent, as everywhere. If the
    platform refuses, the failure is recorded (the pop has gone out anyway).
    """

    def __init__(self, platform: str, calls: PlatformCalls, settings: TransferSettings, dialed: str):
        self.platform = platform
        self.calls = calls
        self.settings = settings
        self.dialed = dialed

    async def end(self, processor: FrameProcessor, session: CallSession, pop: ScreenPop | None) -> None:
        await self._let_go(session, pop)
        await end_pipeline(processor)

    async def violated(self, processor: FrameProcessor, session: CallSession, reason: str) -> None:
        await self._let_go(session, None)
        await end_pipeline(processor)

    async def _let_go(self, session: CallSession, pop: ScreenPop | None) -> None:
        handover = after_stream_target(session.outcome, session.transfer_record, self.settings)
        try:
            if handover is None:
                await self.calls.hang_up(session.call.id)
            else:
                await self.calls.hand_over(session.call.id, handover, pop, self.dialed)
                await session.record_event("transfer_via", via=f"{self.platform}_rest")
        except PlatformAPIError as exc:
            log.error(
                "call %s: %s could not %s: %s",
                session.call.id,
                self.platform,
                "hang up" if handover is None else "transfer",
                exc,
            )
            await session.record_event("transfer_failed" if handover else "hangup_failed", error=str(exc))
