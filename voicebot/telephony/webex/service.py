"""The ``VoiceVirtualAgent`` service Webex's media platform calls: one RPC per turn, keyed by ``conversation_id``.

What each RPC's first message means (BYOVA spec 1.3):

- ``SESSION_START``: a new call; the answer is the greeting, then Webex listens.
- ``audio_input``: the caller's turn, streamed until we say ``END_OF_INPUT``; the
  answer is the reply (``START_OF_INPUT`` first, when the caller starts talking).
- ``dtmf_input``: keys pressed; ``START_OF_DTMF`` only announces them, and closes at once.
- ``NO_INPUT``: Webex heard nothing in time; the answer is the dialogue's re-prompt.
- ``SESSION_END``: the caller hung up; an empty answer, and the call is noted as abandoned.

An RPC for a conversation this process no longer holds (it ended, or the
server restarted) is answered from the call record: a hand-off the caller did
not get yet, or an agent for a call the bot never finished.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from grpc import aio
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import InputDTMFFrame

from voicebot.config import Settings
from voicebot.pipeline.frames import CallerHungUpFrame, CallerSilentFrame
from voicebot.pipeline.services import CallServices
from voicebot.server.calls import CallRegistry
from voicebot.storage.records import CallInfo, utcnow
from voicebot.telephony.webex.audio import WHISPER_RATE, UnsupportedAudio
from voicebot.telephony.webex.call import run_conversation
from voicebot.telephony.webex.control import end_event, transfer_event
from voicebot.telephony.webex.conversation import TurnRPC, WebexConversation, listening_config
from voicebot.telephony.webex.proto import byova_pb2, byova_pb2_grpc
from voicebot.tools.transfer import handover_for

log = logging.getLogger(__name__)

Input = byova_pb2.EventInput
MAX_CONVERSATION_ID = 256
OWED_KEPT_SECS = 600.0  # a terminal response no RPC carried waits this long for Webex to come back
SILENCE_20MS = b"\x00" * (WHISPER_RATE // 50 * 2)

DIGITS = {
    byova_pb2.DTMF_DIGIT_ZERO: KeypadEntry.ZERO,
    byova_pb2.DTMF_DIGIT_STAR: KeypadEntry.STAR,
    byova_pb2.DTMF_DIGIT_POUND: KeypadEntry.POUND,
    **{
        getattr(byova_pb2, f"DTMF_DIGIT_{name}"): KeypadEntry(str(n))
        for n, name in enumerate(("ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"), start=1)
    },
}


UNPARSABLE = byova_pb2.VoiceVARequest()  # stands for a request that is not a VoiceVARequest (compared by identity)


def _lenient(data: bytes) -> byova_pb2.VoiceVARequest:
    """A bad message ends its RPC with INVALID_ARGUMENT (or is skipped mid-stream), not with grpc's traceback."""
    try:
        return byova_pb2.VoiceVARequest.FromString(data)
    except DecodeError:
        return UNPARSABLE


def add_virtual_agent(agent: VirtualAgent, server: aio.Server) -> None:
    """As the generated ``add_VoiceVirtualAgentServicer_to_server``, with a lenient request parser."""
    service = "com.cisco.wcc.ccai.media.v1.VoiceVirtualAgent"
    handlers = {
        "ProcessCallerInput": grpc.stream_stream_rpc_method_handler(
            agent.ProcessCallerInput,
            request_deserializer=_lenient,
            response_serializer=byova_pb2.VoiceVAResponse.SerializeToString,
        ),
        "ListVirtualAgents": grpc.unary_unary_rpc_method_handler(
            agent.ListVirtualAgents,
            request_deserializer=byova_pb2.ListVARequest.FromString,
            response_serializer=byova_pb2.ListVAResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)


def _text(metadata: tuple, key: str) -> str:
    for name, value in metadata or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class VirtualAgent(byova_pb2_grpc.VoiceVirtualAgentServicer):
    def __init__(self, settings: Settings, services: CallServices, calls: CallRegistry):
        self._settings = settings
        self._webex = settings.webex
        self._services = services
        self._calls = calls
        self._live: dict[str, WebexConversation] = {}
        self._tasks: set[asyncio.Task] = set()
        self._owed: dict[str, tuple[byova_pb2.VoiceVAResponse, float]] = {}
        self._skipped = 0

    @property
    def conversations(self) -> int:
        return len(self._live)

    async def ListVirtualAgents(  # noqa: N802
        self, request: byova_pb2.ListVARequest, context: aio.ServicerContext
    ) -> byova_pb2.ListVAResponse:
        agent = byova_pb2.VirtualAgentInfo(
            virtual_agent_id=self._webex.virtual_agent_id,
            virtual_agent_name=self._webex.virtual_agent_name,
            is_default=True,
        )
        return byova_pb2.ListVAResponse(virtual_agents=[agent])

    async def ProcessCallerInput(  # noqa: N802
        self, requests: AsyncIterator[byova_pb2.VoiceVARequest], context: aio.ServicerContext
    ) -> None:
        try:
            first = await anext(aiter(requests))
        except StopAsyncIteration:
            return
        if first is UNPARSABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "not a VoiceVARequest")
        conversation_id = first.conversation_id
        if not conversation_id or len(conversation_id) > MAX_CONVERSATION_ID:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "conversation_id is mandatory (at most 256 chars)")
        kind = first.WhichOneof("voice_va_input_type")
        if kind is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no audio_input, dtmf_input or event_input")
        event = first.event_input.event_type if kind == "event_input" else None
        if event == Input.SESSION_START:
            started = self._start(first, _text(context.invocation_metadata(), "trackingid"))
            await self._answer(started, started.open("start"), context)
            return
        if event == Input.START_OF_DTMF:
            return  # the keys follow in their own RPC
        conversation = self._live.get(conversation_id)
        if event == Input.SESSION_END:
            if conversation is not None:
                conversation.caller_left = True
                conversation.release()
                await conversation.push(CallerHungUpFrame(reason="session_end"))
            self._owed.pop(conversation_id, None)
            await context.write(byova_pb2.VoiceVAResponse())  # no prompt can reach a caller who has gone
            return
        if conversation is None:
            await self._answer_after(conversation_id, context)
            return
        if kind == "audio_input":
            rpc = conversation.open("audio")
            feeding = asyncio.create_task(self._feed(conversation, first, requests))
            try:
                await self._answer(conversation, rpc, context)
            finally:
                feeding.cancel()
        elif kind == "dtmf_input":
            rpc = conversation.open("dtmf")
            for digit in first.dtmf_input.dtmf_events:
                if digit in DIGITS:
                    await conversation.push(InputDTMFFrame(button=DIGITS[digit]))
                else:
                    log.info("webex conversation %s: key %d has no meaning here, skipped", conversation_id, digit)
            await self._answer(conversation, rpc, context)
        elif event == Input.NO_INPUT:
            rpc = conversation.open("no_input")
            await conversation.push(CallerSilentFrame())
            await self._answer(conversation, rpc, context)
        else:
            log.info(
                "webex conversation %s: input event %s (%r) has no meaning here",
                conversation_id,
                Input.EventType.Name(event) if event is not None else kind,
                first.event_input.name,
            )

    def _start(self, first: byova_pb2.VoiceVARequest, tracking_id: str) -> WebexConversation:
        conversation_id = first.conversation_id
        existing = self._live.get(conversation_id)
        if existing is not None:
            return existing  # Webex started it again: the greeting, if not yet heard, goes out on this RPC
        parameters = json_format.MessageToDict(first.event_input.parameters)
        caller = self._first(parameters, self._webex.ani_keys)
        dialed = self._first(parameters, self._webex.dialed_keys)
        unused = sorted(set(parameters) - set(self._webex.ani_keys) - set(self._webex.dialed_keys))
        if unused:
            log.info("webex conversation %s: SESSION_START parameters not used: %s", conversation_id, unused)
        conversation = WebexConversation(
            conversation_id, listening_config(self._settings.dialogue.silence_timeout_secs)
        )
        self._live[conversation_id] = conversation
        call = CallInfo(
            id=conversation_id, platform="webex", stream_id=None, dialed=dialed or None, started_at=utcnow()
        )
        details = {
            "org": first.customer_org_id,
            "virtual_agent": first.virtual_agent_id,
            "trackingid": tracking_id,
            "caller_given": "yes" if caller else "no",
        }
        task = asyncio.create_task(
            run_conversation(conversation, self._services, self._calls, call, caller, details),
            name=f"webex {conversation_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._ended(conversation, done))
        return conversation

    @staticmethod
    def _first(parameters: dict, keys: list[str]) -> str:
        for key in keys:
            value = parameters.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
        return ""

    def _ended(self, conversation: WebexConversation, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self._live.get(conversation.id) is conversation:
            del self._live[conversation.id]
        if not task.cancelled() and task.exception() is not None:
            log.error("webex conversation %s failed: %r", conversation.id, task.exception())
        owed = conversation.owed
        now = time.monotonic()
        self._owed = {k: v for k, v in self._owed.items() if now - v[1] < OWED_KEPT_SECS}
        if owed is not None:
            self._owed[conversation.id] = (owed, now)

    async def _answer(self, conversation: WebexConversation, rpc: TurnRPC, context: aio.ServicerContext) -> None:
        """Write what the bot has for this RPC, up to its one FINAL answer; then the RPC completes."""
        try:
            while True:
                response, last = await rpc.outgoing.get()
                if response is None:
                    return
                try:
                    await context.write(response)
                except Exception as exc:  # Webex dropped the RPC: the answer waits for its next one
                    log.warning("webex conversation %s: answer not delivered (%s)", conversation.id, exc)
                    if last:
                        conversation.undelivered(response)
                        if conversation.ended.is_set():
                            self._owed[conversation.id] = (response, time.monotonic())
                    return
                if last:
                    return
        finally:
            conversation.closed(rpc)

    async def _answer_after(self, conversation_id: str, context: aio.ServicerContext) -> None:
        """A turn for a conversation no longer held here: what it is still owed, or where its record says it goes."""
        owed = self._owed.pop(conversation_id, None)
        if owed is not None:
            await context.write(owed[0])
            return
        target = await handover_for(self._services.session.store, conversation_id, self._settings.transfer)
        log.warning(
            "webex conversation %s is not held here; %s", conversation_id, "ended" if target is None else "to an agent"
        )
        if target is None:
            await context.write(byova_pb2.VoiceVAResponse(output_events=[end_event(conversation_id, "caller_done")]))
        else:
            event = transfer_event(target, "conversation_not_held", None, conversation_id)
            await context.write(byova_pb2.VoiceVAResponse(output_events=[event]))

    async def _feed(
        self,
        conversation: WebexConversation,
        first: byova_pb2.VoiceVARequest,
        requests: AsyncIterator[byova_pb2.VoiceVARequest],
    ) -> None:
        """The RPC's caller audio into the pipeline; once Webex half-closes, the line is silent until the answer."""
        await self._hear(conversation, first)
        async for request in requests:
            await self._hear(conversation, request)
        while True:
            await asyncio.sleep(0.02)
            await conversation.hear(SILENCE_20MS)

    async def _hear(self, conversation: WebexConversation, request: byova_pb2.VoiceVARequest) -> None:
        if request is UNPARSABLE:
            self._skip(conversation, "not a VoiceVARequest")
            return
        if request.WhichOneof("voice_va_input_type") != "audio_input":
            self._skip(conversation, "a message other than audio on an audio RPC")
            return
        try:
            pcm = conversation.audio.decode(request.audio_input)
        except UnsupportedAudio as exc:
            self._skip(conversation, str(exc))
            return
        await conversation.hear(pcm)

    def _skip(self, conversation: WebexConversation, reason: str) -> None:
        self._skipped += 1
        if self._skipped <= 5 or self._skipped % 100 == 0:
            log.warning("webex conversation %s: skipped message #%d: %s", conversation.id, self._skipped, reason)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
