"""What a call uses of its process, handed to it explicitly: the server builds one, every call gets it."""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.config import Settings
from voicebot.intents import IntentRouter
from voicebot.pipeline.inference import InferenceQueue
from voicebot.pipeline.smart_turn import EndOfTurnModel
from voicebot.pipeline.stt import Decoder
from voicebot.pipeline.tts import Voice
from voicebot.server.metrics import Counters, Timings
from voicebot.storage.events import CallEvents
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallStore
from voicebot.tools.crm.base import CRM


@dataclass(frozen=True)
class CallServices:
    settings: Settings
    # what the call's session records into and looks up with
    crm: CRM
    store: CallStore
    events: CallEvents  # the agent desktop's live feed
    outbox: Outbox  # post-call notes and screen pops, delivered durably
    pops_webhook: bool  # a screen-pop webhook is configured: pops go out through the outbox
    router: IntentRouter
    counters: Counters
    timings: Timings
    # the speech models, shared by every call of the process
    decoder: Decoder
    inference: InferenceQueue  # Whisper, Smart Turn and Piper, turn ends first
    end_model: EndOfTurnModel | None  # Smart Turn, when turn.smart_turn is on
    voice: Voice
