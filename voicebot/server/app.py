"""The ASGI application: models load once at start-up, then every route shares them."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, WebSocket
from fastapi.staticfiles import StaticFiles

from voicebot.config import Settings, load_settings
from voicebot.dialogue import FIXED_PROMPTS
from voicebot.pipeline.tts import render_ahead
from voicebot.server.access import OperatorAccess, is_local
from voicebot.server.logs import setup_logging
from voicebot.server.metrics import watch_collections, watch_event_loop
from voicebot.server.prometheus import process_ended
from voicebot.server.recovery import close_interrupted_calls, keep_recovering
from voicebot.server.routes import agent, api, cif, crm, metrics, phone, prompts
from voicebot.server.runtime import Runtime
from voicebot.server.shutdown import install_drain
from voicebot.storage.events import CallEvents, SharedEvents
from voicebot.storage.retention import purge_daily
from voicebot.telephony.media import serve_media
from voicebot.telephony.platform import Platform
from voicebot.telephony.registry import PLATFORMS

log = logging.getLogger(__name__)


async def _render_prompts(runtime: Runtime) -> None:
    started = time.perf_counter()
    count = await render_ahead(runtime.services.voice, runtime.services.inference, FIXED_PROMPTS)
    log.info("%d prompt sentences rendered in %.1fs", count, time.perf_counter() - started)


def create_app(settings: Settings) -> FastAPI:
    public_url = (settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}").rstrip("/")
    runtime = Runtime.start(settings, public_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        calls, leases = runtime.services.session, runtime.storage.leases
        tasks = []
        if leases is not None:  # a shared store: hold a lease before the first call, and watch the other nodes'
            await leases.renew()
            tasks.append(asyncio.create_task(keep_recovering(leases, calls.store, calls.outbox)))
        elif settings.server.workers == 1:  # with workers, their parent did this before they started
            await close_interrupted_calls(calls.store, calls.outbox)
        await _render_prompts(runtime)  # before the first call, which would otherwise wait for them
        # What start-up made (models, routes, the prompts' audio) lives as long as the process: a full
        # collection walking it held every call's audio for 150-280 ms (docs/benchmarks.md).
        gc.freeze()
        calls.outbox.start()  # also resumes what an earlier run left pending
        release_sigterm = install_drain(runtime, settings.limits.drain_secs)
        stop_watching_gc = watch_collections(runtime.services.timings)
        tasks += [
            asyncio.create_task(watch_event_loop(runtime.services.timings)),
            asyncio.create_task(purge_daily(calls.store, calls.outbox, settings.retention.days)),
        ]
        if runtime.nodes is not None:
            tasks.append(asyncio.create_task(runtime.nodes.beat()))
        shared = _shared_events(settings, calls.events)
        if shared is not None:
            tasks.append(asyncio.create_task(shared.follow()))
        webex = None
        if settings.webex.grpc_port is not None:
            from voicebot.telephony.webex.server import WebexServer  # gRPC loads only for those who use it

            webex = await WebexServer.start(settings, runtime.services, runtime.calls)
        yield
        release_sigterm()
        stop_watching_gc()
        for task in tasks:
            task.cancel()
        if webex is not None:
            await webex.aclose()
        if shared is not None:
            await shared.aclose()
        await runtime.aclose()
        process_ended()

    app = FastAPI(title="voicebot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    for router in (api.router, metrics.router, prompts.router, crm.router, agent.router, phone.router, cif.router):
        app.include_router(router)
    for platform in PLATFORMS:
        app.include_router(platform.router)
        app.add_api_websocket_route(platform.media_path, _media_route(runtime, platform))
    if settings.webex.grpc_port is not None:
        from voicebot.telephony.webex.routes import router as webex_router

        app.include_router(webex_router)
    app.mount("/media", StaticFiles(directory=runtime.media_dir), name="media")
    app.add_middleware(OperatorAccess, token=settings.access.token)
    _warn_about_open_doors(settings)
    return app


def _shared_events(settings: Settings, events: CallEvents) -> SharedEvents | None:
    """Where other processes' call events come from, for desktops connected here: other nodes (``events.url``),
    this node's other workers (an SQLite log), or nowhere (one process alone)."""
    if settings.events.url is not None:
        from voicebot.storage.redis.events import RedisEventStream  # redis loads only for those who use it

        return RedisEventStream(settings.events.url.get_secret_value(), events)
    if settings.server.workers > 1:
        from voicebot.storage.sqlite.events import EventLog

        return EventLog(settings.events_path, events)
    return None


def _media_route(runtime: Runtime, platform: Platform) -> Callable[[WebSocket], Awaitable[None]]:
    async def media(websocket: WebSocket) -> None:
        await serve_media(websocket, runtime, platform)

    return media


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
    if settings.acs.credentials() is not None and settings.acs.resource_id is None:
        log.warning("acs.resource_id is not set: ACS's JWTs on callbacks and media streams are not checked")
    if settings.acs.credentials() is not None and settings.acs.incoming_secret is None:
        log.warning("acs.incoming_secret is not set: /acs/incoming accepts local clients only")


def create_app_from_environment() -> FastAPI:
    """The app of one ``voicebot serve --workers N`` process, from the settings its parent exported."""
    settings = load_settings()
    setup_logging(settings.log_level)
    return create_app(settings)
