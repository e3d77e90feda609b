"""Real parts for the call core's tests: the SQLite store, the embedded CRM with its demo data, the outbox, the feed."""

from __future__ import annotations

import pytest

from voicebot.config import Settings
from voicebot.intents import IntentRouter
from voicebot.pipeline.services import SessionServices
from voicebot.pipeline.session import CallSession
from voicebot.server.metrics import Counters
from voicebot.server.prometheus import Metrics
from voicebot.storage.events import CallEvents
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallInfo
from voicebot.storage.sqlite.outbox import SQLiteOutboxStore
from voicebot.storage.sqlite.records import SQLiteCallStore
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.local import LocalCRM

JANE = "+14155552671"


@pytest.fixture
async def services(tmp_path):
    def build(pops_webhook: bool = True) -> SessionServices:
        """The outbox is not started: what it would deliver stays pending, to be read."""
        settings = Settings(data_dir=tmp_path)
        crm = LocalCRM(tmp_path / "crm.sqlite3", "http://bot.example")
        crm.seed_demo()
        made = SessionServices(
            settings=settings,
            crm=crm,
            store=SQLiteCallStore(settings.calls_path),
            events=CallEvents(),
            outbox=Outbox(SQLiteOutboxStore(settings.outbox_path), {}, kinds=("crm_note", "screen_pop")),
            pops_webhook=pops_webhook,
            router=IntentRouter.load(embedder=None),
            counters=Counters(),
            metrics=Metrics(),
        )
        opened.append(made)
        return made

    opened: list[SessionServices] = []
    yield build
    for made in opened:
        await made.outbox.aclose()
        await made.store.aclose()


@pytest.fixture
def new_session():
    def make(services: SessionServices, call_id: str = "CA1", caller: str = JANE) -> CallSession:
        call = CallInfo(call_id, "twilio", "MZ1", "+18005550100", "2026-12-01T10:00:00.000+00:00")
        return CallSession(services, call, normalize_ani(caller))

    return make
