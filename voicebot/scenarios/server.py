"""A voicebot server inside this process, on a loopback port, for scenarios that bring their own settings.

It is the same application ``voicebot serve`` runs (same models, routes and
pipeline, Webex's gRPC service included), on uvicorn in a thread of its own so its event loop never competes
with the callers' real-time pacing. Each scenario file gets a fresh data
directory: its CRM fixtures, call records and outbox start empty.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from voicebot.config import Settings, load_settings, merge
from voicebot.tools.crm.local import LocalCRM

START_TIMEOUT_SECS = 120.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class InProcessServer:
    def __init__(self, base_config: Path | None, overrides: dict[str, Any], crm_fixtures: list[dict] | None):
        self._base_config = base_config
        self._overrides = overrides
        self._fixtures = crm_fixtures
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.ws_url = ""
        self.http_url = ""

    def _settings(self, data_dir: Path, port: int) -> Settings:
        forced = {
            "data_dir": str(data_dir),
            "server": {"host": "127.0.0.1", "port": port, "public_url": None},
            # Every platform a scenario may call over, Webex's gRPC included (callers find it in /healthz).
            "webex": {"grpc_host": "127.0.0.1", "grpc_port": _free_port()},
        }
        if self._fixtures is not None:
            forced["crm"] = {"seed_demo_data": False}
        settings = load_settings(self._base_config, **merge(self._overrides, forced))
        if self._fixtures is not None:
            if settings.crm.backend != "local":
                raise ValueError(f"crm fixtures need crm.backend = 'local', not {settings.crm.backend!r}")
            LocalCRM(settings.crm_database, default_region=settings.telephony.default_region).import_records(
                self._fixtures
            )
        return settings

    def __enter__(self) -> InProcessServer:
        from voicebot.server.app import create_app

        self._tmp = tempfile.TemporaryDirectory(prefix="voicebot-scenario-")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        try:
            app = create_app(self._settings(Path(self._tmp.name), port))
        except BaseException:
            sock.close()
            self._tmp.cleanup()
            raise
        config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process voicebot server did not start")
            time.sleep(0.05)
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self._tmp is not None:
            self._tmp.cleanup()
