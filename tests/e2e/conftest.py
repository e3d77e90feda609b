"""A real voicebot server on a loopback port, and a loopback webhook receiver for screen pops."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jsonschema
import pytest

from tests.http_receiver import HTTPReceiver
from voicebot.tools.screen_pop import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

WEBHOOK_SECRET = "test-webhook-secret"
SCREEN_POP_SCHEMA = json.loads((Path(__file__).parents[2] / "voicebot/schemas/screen_pop.v1.json").read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def webhook():
    receiver = HTTPReceiver()
    yield receiver
    receiver.close()


def start_server(data_dir: Path, env: dict[str, str]):
    """``voicebot serve`` as a user runs it, in its own process; returns (process, urls)."""
    port = free_port()
    log = open(data_dir / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"voicebot serve exited: {Path(log.name).read_text()[-2000:]}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        raise RuntimeError("server did not become ready")
    urls = {"http": base, "ws": f"ws://127.0.0.1:{port}/twilio/media", "log": Path(log.name), "data_dir": data_dir}
    return proc, log, urls


def record(server: dict, call_id: str, timeout: float = 15.0) -> dict:
    """The call's record once the server has written its outcome (just after the line closes).

    A call still in progress is returned as it stands after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(f"{server['http']}/api/calls/{call_id}", headers=server.get("api_headers", {}))
        assert response.status_code == 200
        if response.json()["outcome"] or time.monotonic() > deadline:
            return response.json()
        time.sleep(0.1)


def screen_pop(webhook, call_id: str) -> dict:
    """The call's one screen pop as the webhook received it: signed with our secret and valid against the schema."""
    [request] = webhook.pops_for(call_id)
    headers = request["headers"]
    assert verify(request["body"], WEBHOOK_SECRET, headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER])
    pop = json.loads(request["body"])
    jsonschema.validate(pop, SCREEN_POP_SCHEMA)
    return pop


def stop_server(proc, log) -> None:
    proc.terminate()
    proc.wait(timeout=15)
    log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory, webhook):
    """The embedded defaults plus a screen-pop webhook and a short silence timeout."""
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-data"),
        {
            "VOICEBOT_SCREEN_POP__WEBHOOK_URL": webhook.url,
            "VOICEBOT_SCREEN_POP__WEBHOOK_SECRET": WEBHOOK_SECRET,
            "VOICEBOT_DIALOGUE__SILENCE_TIMEOUT_SECS": "2.5",
        },
    )
    yield urls
    stop_server(proc, log)
