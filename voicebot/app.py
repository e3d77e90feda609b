"""The ASGI application: models load once at start-up, then every route shares them."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from voicebot.access import OperatorAccess, is_local
from voicebot.config import Settings, load_settings
from voicebot.events import EventLog
from voicebot.logs import setup_logging
from voicebot.metrics import watch_event_loop
from voicebot.recovery import close_interrupted_calls
from voicebot.retention import purge_daily
from voicebot.routes import agent, api, crm, exotel, genesys, phone, plivo, prompts, telnyx, twilio, vonage
from voicebot.runtime import Runtime
from voicebot.shutdown import install_drain

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    public_url = (settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}").rstrip("/")
    runtime = Runtime.start(settings, public_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.server.workers == 1:  # with workers, their parent did this before they started
            await close_interrupted_calls(runtime.store, runtime.outbox)
        runtime.outbox.start()  # also resumes what an earlier run left pending
        release_sigterm = install_drain(runtime, settings.limits.drain_secs)
        tasks = [
            asyncio.create_task(watch_event_loop(runtime.timings)),
            asyncio.create_task(purge_daily(runtime.store, runtime.outbox, settings.retention.days)),
        ]
        shared = None
        if settings.server.workers > 1:  # the agent desktop may be connected to another process
            shared = EventLog(settings.data_dir / "events.sqlite3", runtime.events)
            tasks.append(asyncio.create_task(shared.follow()))
        yield
        release_sigterm()
        for task in tasks:
            task.cancel()
        if shared is not None:
            await shared.aclose()
        await runtime.aclose()

    app = FastAPI(title="voicebot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.include_router(api.router)
    app.include_router(twilio.router)
    app.include_router(genesys.router)
    app.include_router(telnyx.router)
    app.include_router(plivo.router)
    app.include_router(vonage.router)
    app.include_router(exotel.router)
    app.include_router(prompts.router)
    app.include_router(crm.router)
    app.include_router(agent.router)
    app.include_router(phone.router)
    app.mount("/media", StaticFiles(directory=runtime.media_dir), name="media")
    app.add_middleware(OperatorAccess, token=settings.access.token)
    _warn_about_open_doors(settings)
    return app


def _warn_about_open_doors(settings: Settings) -> None:
    """Bound to a reachable address without secrets, the guarded ways in refuse everyone: say which key opens them."""
    if is_local(settings.server.host, {}) or settings.server.host == "localhost":
        return
    if settings.access.token is None:
        log.warning("access.token is not set: /agent, /phone, /api and /crm answer local clients only")
    if settings.access.media_secret is None:
        log.warning("access.media_secret is not set: media streams are accepted from local clients only")
    if settings.genesys.api_key is None:
        log.warning("genesys.api_key is not set: AudioConnector accepts local clients only")


def create_app_from_environment() -> FastAPI:
    """The app of one ``voicebot serve --workers N`` process, from the settings its parent exported."""
    settings = load_settings()
    setup_logging(settings.log_level)
    return create_app(settings)
