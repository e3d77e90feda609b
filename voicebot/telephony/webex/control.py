"""How a Webex call ends: a terminal response, which Flow Designer's Virtual Agent V2 activity turns into an exit.

``TRANSFER_TO_AGENT`` follows the activity's Escalated exit (then Queue Contact),
``SESSION_END`` its Handled exit. The hand-off's metadata names the screen pop,
case and customer in flat strings, so that a Parse activity on
``VirtualAgentV2.MetaData`` can copy them into CAD variables for the desktop.
"""

from __future__ import annotations

from pipecat.processors.frame_processor import FrameProcessor

from voicebot.config import TransferSettings
from voicebot.pipeline.session import CallSession
from voicebot.telephony.control import as_proposed, end_pipeline
from voicebot.telephony.webex.conversation import Event, WebexConversation, struct_of
from voicebot.telephony.webex.proto import byova_pb2
from voicebot.tools.screen_pop import ScreenPop
from voicebot.tools.transfer import TransferTarget, after_stream_target


def transfer_event(target: TransferTarget, reason: str, pop: ScreenPop | None, call_id: str) -> byova_pb2.OutputEvent:
    metadata = {"call_id": call_id, "reason": reason, "transfer_mode": target.mode, "transfer_target": target.target}
    if pop is not None:
        metadata |= {"screen_pop_id": pop.id, "screen_pop_url": pop.action.url, "crm": pop.crm.backend}
        if pop.customer is not None:
            metadata |= {"customer_id": pop.customer.id, "customer_name": pop.customer.name}
        if pop.case is not None:
            metadata |= {"case_id": pop.case.id, "case_number": pop.case.number, "case_title": pop.case.title}
    return Event(event_type=Event.TRANSFER_TO_AGENT, name="transfer_to_agent", metadata=struct_of(metadata))


def end_event(call_id: str, reason: str) -> byova_pb2.OutputEvent:
    return Event(
        event_type=Event.SESSION_END, name="resolved", metadata=struct_of({"call_id": call_id, "reason": reason})
    )


def terminal_event(
    session: CallSession, pop: ScreenPop | None, settings: TransferSettings
) -> tuple[byova_pb2.OutputEvent, str]:
    """The session's exit and the summary for the agent; a call the bot did not finish goes to an agent."""
    target = after_stream_target(session.outcome, session.transfer_record, settings)
    call_id = session.call.id
    if target is None:
        return end_event(call_id, "caller_done"), ""
    reason = pop.reason if pop is not None else (session.outcome or "unfinished")
    summary = pop.summary if pop is not None else ""
    return transfer_event(target, reason, pop, call_id), summary


def transcript_text(session: CallSession) -> str:
    return "\n".join(f"{turn.role}: {turn.text}" for turn in session.transcript)


class WebexCallControl:
    """The dialogue's decision becomes the conversation's terminal response; the pipeline then ends."""

    choose = staticmethod(as_proposed)

    def __init__(self, conversation: WebexConversation, settings: TransferSettings):
        self.conversation = conversation
        self.settings = settings

    async def end(self, processor: FrameProcessor, session: CallSession, pop: ScreenPop | None) -> None:
        event, summary = terminal_event(session, pop, self.settings)
        self.conversation.let_go(event, summary, transcript_text(session))
        if pop is not None:
            await session.record_event("transfer_via", via="webex_transfer_to_agent")
        await end_pipeline(processor)

    async def peer_closed(self, processor: FrameProcessor, reply: dict | None) -> None:
        self.conversation.caller_left = True  # no prompt can be sent to a caller who has gone
        await end_pipeline(processor)

    async def violated(self, processor: FrameProcessor, session: CallSession, reason: str) -> None:
        event, summary = terminal_event(session, None, self.settings)
        self.conversation.let_go(event, summary, transcript_text(session))
        await end_pipeline(processor)
