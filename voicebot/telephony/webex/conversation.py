"""One Webex conversation: the call's pipeline, living across the turn RPCs Webex opens for it.

Webex sends each turn as a new ``ProcessCallerInput`` RPC with the same
``conversation_id`` and expects exactly one FINAL response on it (BYOVA spec
1.3): in CHUNK mode after the reply's raw audio in CHUNK responses, in WAV
mode with the reply's WAV prompts in it. The pipeline is the one every platform runs; what is particular is at its
ends: caller audio comes from whichever RPC is open, and what the bot says waits
for an RPC to carry it. A :class:`WebexConversation` is that meeting point.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal

from google.protobuf import struct_pb2
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.pipeline.worker import PipelineWorker

from voicebot.telephony.webex.audio import WHISPER_RATE, CallerAudio
from voicebot.telephony.webex.proto import byova_pb2

log = logging.getLogger(__name__)

Event = byova_pb2.OutputEvent
RPCKind = Literal["start", "audio", "dtmf", "no_input"]


def listening_config(silence_timeout_secs: float) -> byova_pb2.InputHandlingConfig:
    """What Webex does while the caller answers: one key at a time; its own no-input timer after ours."""
    return byova_pb2.InputHandlingConfig(
        dtmf_config=byova_pb2.DTMFInputConfig(
            dtmf_input_length=1, inter_digit_timeout_msec=3000, termchar=byova_pb2.DTMF_DIGIT_POUND
        ),
        speech_timers=byova_pb2.InputSpeechTimers(
            complete_timeout_msec=10000,
            no_input_timeout_msec=int(silence_timeout_secs * 1000) + 2000,
        ),
    )


def event_response(kind: byova_pb2.OutputEvent.EventType) -> byova_pb2.VoiceVAResponse:
    return byova_pb2.VoiceVAResponse(output_events=[Event(event_type=kind)])


def struct_of(values: dict[str, str]) -> struct_pb2.Struct:
    data = struct_pb2.Struct()
    data.update(values)
    return data


@dataclass(eq=False)
class TurnRPC:
    """One open ``ProcessCallerInput``: what goes out on it, in order; ``None`` means it was superseded."""

    kind: RPCKind
    outgoing: asyncio.Queue[tuple[byova_pb2.VoiceVAResponse | None, bool]] = field(default_factory=asyncio.Queue)
    listening: bool = False  # START_OF_INPUT sent for the caller's turn, END_OF_INPUT not yet
    answering: bool = False  # END_OF_INPUT sent: what follows is the bot's reply

    def send(self, response: byova_pb2.VoiceVAResponse | None, last: bool = False) -> None:
        self.outgoing.put_nowait((response, last))


class WebexConversation:
    """What a ``conversation_id`` holds between RPCs: the pipeline, the RPC waiting for the bot, and what is owed."""

    def __init__(self, conversation_id: str, listening: byova_pb2.InputHandlingConfig):
        self.id = conversation_id
        self._listening = listening
        self._rpc: TurnRPC | None = None
        self._pending: byova_pb2.VoiceVAResponse | None = None  # ready, with no RPC open to carry it
        self._pending_last = False
        self._pending_chunks: list[byova_pb2.VoiceVAResponse] = []  # a reply's audio so far, waiting likewise
        self._closing: list[bytes] = []  # the last prompt, held for the hand-off that goes with it
        self.terminal: byova_pb2.VoiceVAResponse | None = None  # the conversation's last response, once decided
        self.caller_left = False
        self.audio = CallerAudio()
        self.worker: PipelineWorker | None = None
        self.ended = asyncio.Event()

    # -- the pipeline's side ---------------------------------------------------

    def speech_started(self) -> None:
        """START_OF_INPUT, once per turn, on the audio RPC that carries the caller's voice (Webex barges in on it)."""
        rpc = self._rpc
        if rpc is not None and rpc.kind == "audio" and not rpc.listening:
            rpc.listening, rpc.answering = True, False
            rpc.send(event_response(Event.START_OF_INPUT))

    def _end_of_input(self, rpc: TurnRPC) -> None:
        """Before the reply's first audio on an audio RPC: Webex stops streaming this turn's audio."""
        if rpc.kind == "audio" and not rpc.answering:
            rpc.listening, rpc.answering = False, True
            rpc.send(event_response(Event.END_OF_INPUT))

    def chunk(self, audio: bytes, barge_in: bool) -> None:
        """Part of a reply as soon as it is rendered (CHUNK mode: raw mu-law); the reply's FINAL follows it."""
        response = byova_pb2.VoiceVAResponse(
            prompts=[byova_pb2.Prompt(audio_content=audio, is_barge_in_enabled=barge_in)],
            response_type=byova_pb2.VoiceVAResponse.CHUNK,
        )
        rpc = self._rpc
        if rpc is None:
            self._pending_chunks.append(response)
            return
        self._end_of_input(rpc)
        rpc.send(response)

    def reply(self, prompt: list[bytes]) -> None:
        """The bot's answer, the caller may talk over it; then Webex listens again."""
        self._deliver(
            byova_pb2.VoiceVAResponse(
                prompts=[byova_pb2.Prompt(audio_content=wav, is_barge_in_enabled=True) for wav in prompt],
                input_mode=byova_pb2.INPUT_VOICE_DTMF,
                input_handling_config=self._listening,
            ),
            last=False,
        )

    def withdraw(self) -> None:
        """The caller barged in before Webex came back for the reply: it is no longer the answer."""
        if not self._pending_last:
            self._pending = None
            self._pending_chunks = []

    def hold_closing(self, prompt: list[bytes]) -> None:
        self._closing = prompt

    def let_go(self, event: byova_pb2.OutputEvent, summary: str = "", transcript: str = "") -> None:
        """The terminal response: the held last prompt, the hand-off (or end), and the summary for the agent.

        Terminal responses carry no input mode or handling config (Cisco's reference shape).
        """
        if self.terminal is not None:
            return
        response = byova_pb2.VoiceVAResponse(
            prompts=[byova_pb2.Prompt(audio_content=wav, is_barge_in_enabled=False) for wav in self._closing],
            output_events=[event],
        )
        if summary:
            response.session_summary.text = summary
        if transcript:
            response.session_transcript.text = transcript
        self._closing = []
        self.terminal = response
        self._deliver(response, last=True)

    def _deliver(self, response: byova_pb2.VoiceVAResponse, last: bool) -> None:
        rpc = self._rpc
        if rpc is None:
            self._keep(response, last)
            return
        self._end_of_input(rpc)
        rpc.send(response, last=True)
        self._rpc = None  # answered: what the bot says next waits for Webex's next RPC

    def _keep(self, response: byova_pb2.VoiceVAResponse, last: bool) -> None:
        """Hold ``response`` for Webex's next RPC; a reply already waiting is said first (prompts play in order)."""
        if self._pending is not None:
            earlier = list(self._pending.prompts)
            later = list(response.prompts)
            if not last:
                response = self._pending  # the first reply's shape, with both replies' prompts
            del response.prompts[:]
            response.prompts.extend(earlier + later)
        self._pending = response
        self._pending_last = self._pending_last or last

    # -- the RPCs' side --------------------------------------------------------

    def open(self, kind: RPCKind) -> TurnRPC:
        """Webex opened a turn RPC: it is now the one the caller's input arrives on and the bot answers on."""
        if self._rpc is not None:
            self._rpc.send(None)  # Webex moved on to a newer RPC; the older one closes without an answer
        rpc = TurnRPC(kind)
        for waiting in self._pending_chunks:
            rpc.send(waiting)
        self._pending_chunks = []
        if self._pending is not None:
            pending = self._pending
            self._pending, self._pending_last = None, False
            rpc.send(pending, last=True)
            return rpc
        self._rpc = rpc
        return rpc

    def release(self) -> None:
        """Nothing more will come for the open RPC (the caller hung up, or the call is over): let it close."""
        if self._rpc is not None:
            self._rpc.send(None)
            self._rpc = None

    @property
    def owed(self) -> byova_pb2.VoiceVAResponse | None:
        """The terminal response, if no RPC has carried it yet."""
        return self._pending if self._pending_last else None

    def closed(self, rpc: TurnRPC) -> None:
        if self._rpc is rpc:
            self._rpc = None

    def undelivered(self, response: byova_pb2.VoiceVAResponse) -> None:
        """Writing the answer failed (Webex dropped the RPC): it goes out on the next one."""
        self._keep(response, response is self.terminal)

    async def hear(self, pcm16k: bytes) -> None:
        if pcm16k and self.worker is not None:
            await self.worker.queue_frame(InputAudioRawFrame(pcm16k, WHISPER_RATE, 1))

    async def push(self, frame: Frame) -> None:
        if self.worker is not None:
            await self.worker.queue_frame(frame)
