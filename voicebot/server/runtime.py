"""What a server process shares across calls: models, CRM, call store, router, webhook sender.

Models load once here (loading them per call costs over a second and hundreds of
MB each); every call's pipeline borrows them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from voicebot.config import Settings
from voicebot.intents import IntentRouter
from voicebot.pipeline.inference import InferenceQueue, load_lowered
from voicebot.pipeline.services import CallServices, SessionServices
from voicebot.pipeline.smart_turn import shared_smart_turn
from voicebot.pipeline.stt import create_decoder
from voicebot.pipeline.tts import Renders, Voice
from voicebot.pipeline.vad import VoiceDetectors
from voicebot.server.calls import CallRegistry, node_name
from voicebot.server.metrics import Counters, Timings
from voicebot.server.prometheus import Metrics
from voicebot.storage.backends import Storage, open_storage
from voicebot.storage.events import CallEvents
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallStore
from voicebot.telephony.acs.api import AcsCalls
from voicebot.telephony.acs.connections import AcsConnections
from voicebot.telephony.acs.presence import GraphPresence
from voicebot.telephony.acs.tokens import AcsTokenVerifier
from voicebot.telephony.telnyx.api import TelnyxCalls
from voicebot.telephony.telnyx.signature import public_key
from voicebot.telephony.twilio.api import TwilioCalls
from voicebot.telephony.twilio.twiml import TwilioHandover
from voicebot.telephony.vonage.api import VonageCalls
from voicebot.tools.crm.base import CallNote, open_crm
from voicebot.tools.crm.measured import MeasuredCRM
from voicebot.tools.screen_pop import ScreenPopWebhook

if TYPE_CHECKING:
    from voicebot.storage.redis.nodes import NodeBeacon

log = logging.getLogger(__name__)

TELEPHONE_RATE = 8000


def default_media_dir() -> Path:
    """The bundled media: inside the installed package, or the repository's ``media/``."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "media"
    return packaged if packaged.is_dir() else package.parent / "media"


# Two: one decode in CTranslate2 while the next one's features are computed; more only contend for the cores.
INFERENCE_WORKERS = 2


@dataclass
class Runtime:
    """The process: what its calls share (:class:`CallServices`), its platforms' clients, and its calls."""

    settings: Settings
    services: CallServices
    webhook: ScreenPopWebhook
    handover: TwilioHandover
    telnyx: TelnyxCalls | None
    telnyx_public_key: Ed25519PublicKey | None
    vonage: VonageCalls | None
    acs: AcsConnections | None
    public_url: str
    media_dir: Path
    model_load_secs: float
    calls: CallRegistry
    storage: Storage  # call records and the outbox's items: SQLite files, or PostgreSQL shared by the nodes
    nodes: NodeBeacon | None  # the cluster-wide view, with events.url

    @classmethod
    def start(cls, settings: Settings, public_url: str) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        decoder = load_lowered(lambda: create_decoder(settings.stt))
        whisper_secs = time.perf_counter() - started
        voice = load_lowered(lambda: Voice.from_settings(settings.tts, TELEPHONE_RATE))
        end_model = load_lowered(shared_smart_turn) if settings.turn.smart_turn else None
        load_secs = time.perf_counter() - started
        log.info(
            "models loaded in %.2fs (whisper %.2fs, piper %.2fs)", load_secs, whisper_secs, load_secs - whisper_secs
        )
        secret = settings.screen_pop.webhook_secret
        node = node_name()
        storage = open_storage(settings, node)
        metrics = Metrics()
        crm = MeasuredCRM(open_crm(settings, public_url), metrics)
        webhook = ScreenPopWebhook(
            settings.screen_pop.webhook_url,
            secret.get_secret_value() if secret else None,
            settings.screen_pop.timeout_secs,
        )

        async def write_note(payload: dict) -> None:
            await crm.add_note(CallNote(**payload))

        outbox = Outbox(
            storage.outbox,
            {"crm_note": write_note, "screen_pop": webhook.post},
            max_attempts=settings.outbox.max_attempts,
            backoff_base_secs=settings.outbox.backoff_base_secs,
            backoff_max_secs=settings.outbox.backoff_max_secs,
            concurrency=settings.outbox.concurrency,
        )
        counters = Counters()
        timings = Timings(metrics=metrics)
        inference = InferenceQueue(workers=INFERENCE_WORKERS, timings=timings)
        services = CallServices(
            session=SessionServices(
                settings=settings,
                crm=crm,
                store=storage.calls,
                events=CallEvents(),
                outbox=outbox,
                pops_webhook=webhook.enabled,
                router=IntentRouter.load(
                    settings.dialogue.intents_file,
                    settings.dialogue.intent_threshold,
                    None if settings.dialogue.embedder == "none" else settings.dialogue.embedder,
                ),
                counters=counters,
                metrics=metrics,
            ),
            timings=timings,
            decoder=decoder,
            inference=inference,
            end_model=end_model,
            voice=voice,
            renders=Renders(voice, inference),
            vad=VoiceDetectors(settings.vad),
        )
        runtime = cls(
            settings=settings,
            services=services,
            webhook=webhook,
            handover=TwilioHandover(
                settings.transfer,
                TwilioCalls(settings.twilio) if settings.twilio.rest_enabled else None,
                public_url,
            ),
            telnyx=TelnyxCalls(settings.telnyx, settings.transfer) if settings.telnyx.api_key else None,
            telnyx_public_key=public_key(settings.telnyx.public_key) if settings.telnyx.public_key else None,
            vonage=(
                VonageCalls(settings.vonage, settings.transfer, public_url) if settings.vonage.rest_enabled else None
            ),
            acs=_acs(settings, services.session.store),
            public_url=public_url,
            media_dir=settings.media_dir or default_media_dir(),
            model_load_secs=load_secs,
            calls=CallRegistry(settings.limits.max_calls, counters, metrics, node),
            storage=storage,
            nodes=None,
        )
        if settings.events.url is not None:
            from voicebot.storage.redis.nodes import NodeBeacon  # redis loads only for those who use it

            lease = settings.store.node_lease_secs
            runtime.nodes = NodeBeacon(
                settings.events.url.get_secret_value(), runtime.calls.status, beat_secs=lease / 5, lease_secs=lease
            )
        return runtime

    async def aclose(self) -> None:
        services = self.services
        services.inference.close()
        await services.session.outbox.aclose()
        for calls in (self.handover.calls, self.telnyx, self.vonage, self.acs):
            if calls is not None:
                await calls.aclose()
        await self.webhook.aclose()
        await services.session.crm.close()
        await self.storage.aclose()
        if self.nodes is not None:
            await self.nodes.aclose()


def _acs(settings: Settings, store: CallStore) -> AcsConnections | None:
    acs = settings.acs
    credentials = acs.credentials()
    if credentials is None:
        return None
    verifier = AcsTokenVerifier(acs.jwks_url, acs.issuer, acs.resource_id) if acs.resource_id else None
    calls = AcsCalls(*credentials, acs.api_version)
    presence = GraphPresence(acs.graph) if acs.graph.configured else None
    return AcsConnections(calls, acs, settings.transfer, store, verifier, presence)
