"""What a call uses of its process, handed to it explicitly: the server builds them once, every call gets them.

Split in two so that a call's bookkeeping (:class:`~voicebot.pipeline.session.CallSession`)
needs no speech models, and can be exercised without them.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.config import Settings
from voicebot.intents import IntentRouter
from voicebot.pipeline.inference import InferenceQueue
from voicebot.pipeline.smart_turn import EndOfTurnModel
from voicebot.pipeline.stt import Decoder
from voicebot.pipeline.tts import Renders, Voice
from voicebot.pipeline.vad import VoiceDetectors
from voicebot.server.metrics import Counters, Timings
from voicebot.server.prometheus import Metrics
from voicebot.storage.events import CallEvents
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallStore
from voicebot.tools.crm.base import CRM


@dataclass(frozen=True)
class SessionServices:
    """What a call's session looks the caller up with and records into."""

    settings: Settings
    crm: CRM
    store: CallStore
    events: CallEvents  # the agent desktop's live feed
    outbox: Outbox  # post-call notes and screen pops, delivered durably
    pops_webhook: bool  # a screen-pop webhook is configured: pops go out through the outbox
    router: IntentRouter
    counters: Counters
    metrics: Metrics  # the Prometheus series of /metrics


@dataclass(frozen=True)
class CallServices:
    """Everything a call uses: its session's services and the speech models every call shares."""

    session: SessionServices
    timings: Timings
    decoder: Decoder
    inference: InferenceQueue  # Whisper, Smart Turn and Piper, turn ends first
    end_model: EndOfTurnModel | None  # Smart Turn, when turn.smart_turn is on
    voice: Voice
    renders: Renders  # the voice's sentences being rendered, shared between calls
    vad: VoiceDetectors

    @property
    def settings(self) -> Settings:
        return self.session.settings
