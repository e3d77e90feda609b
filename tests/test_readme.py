"""The README is true: its receiver snippet accepts our pops and refuses forged or replayed ones, the commands
it shows exist, and the platforms its status names are served."""

import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from starlette.routing import Match

from tests.http_receiver import HTTPReceiver
from voicebot.cli import main
from voicebot.config import Settings
from voicebot.server import app
from voicebot.server.runtime import default_media_dir
from voicebot.telephony.webex.proto import byova_pb2
from voicebot.tools.screen_pop import ScreenPopWebhook

README = (Path(__file__).parents[1] / "README.md").read_text()
STATUS = next(p for p in README.split("\n\n") if p.startswith("Status: "))


def readme_function(name: str):
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if f"def {name}(" in b)
    namespace: dict = {}
    exec(block, namespace)
    return namespace[name]


async def test_the_receiver_snippet_accepts_a_real_pop_and_refuses_forgeries_and_replays(monkeypatch):
    is_from_voicebot = readme_function("is_from_voicebot")
    receiver = HTTPReceiver()
    webhook = ScreenPopWebhook(receiver.url, "s3cret")
    try:
        await webhook.post({"id": "pop-1", "reason": "agent_requested"})
    finally:
        await webhook.aclose()
        receiver.close()
    [request] = receiver.requests
    body, headers = request["body"], request["headers"]
    assert is_from_voicebot(body, headers, "s3cret")
    assert not is_from_voicebot(body, headers, "another-secret")
    assert not is_from_voicebot(body.replace(b"agent", b"robot"), headers, "s3cret")
    assert not is_from_voicebot(body, {**headers, "X-Voicebot-Timestamp": str(int(time.time()) + 1)}, "s3cret")
    assert not is_from_voicebot(body, {k: v for k, v in headers.items() if "Timestamp" not in k}, "s3cret")
    sent = time.time()
    monkeypatch.setattr(time, "time", lambda: sent + 301)  # the same request, replayed five minutes later
    assert not is_from_voicebot(body, headers, "s3cret")


def shown_commands(text: str) -> set[tuple[str, ...]]:
    """Each ``voicebot <command> [<subcommand>]`` in the code blocks and inline code of ``text``."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    words = r"voicebot((?: [a-z][a-z-]*(?=\s|$))+)"  # stops at flags, placeholders and paths (scenarios/)
    return {tuple(m.split()) for code in blocks + spans for m in re.findall(rf"(?:^|&& ){words}", code, re.M)}


@pytest.mark.parametrize("command", sorted(shown_commands(README)), ids=" ".join)
def test_every_command_the_readme_shows_exists(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0, capsys.readouterr().err


def test_the_commands_the_status_names_are_in_the_command_reference():
    reference = README[README.index("## Commands") : README.index("## HTTP and websocket surface")]
    assert shown_commands(STATUS) >= {("call",), ("test-calls",), ("bench",)}
    assert shown_commands(STATUS) <= shown_commands(reference)


def test_every_platform_the_status_names_has_its_media_route_in_the_app(monkeypatch):
    """Built with the routes only (no models): the status names exactly the table's platforms, each one served."""
    table = dict(re.findall(r"^\| ([A-Z][\w ]+?) \| `WS (/[\w/-]+)`", README, re.M))
    grpc = dict(re.findall(r"^\| ([A-Z][\w ]+?) \| gRPC `(\w+)`", README, re.M))
    named = re.search(r"end to end over (.+?) \(", STATUS.replace("\n", " ")).group(1)
    platforms = re.split(r", | and ", named)
    assert table and len(table) + len(grpc) == len(platforms)
    assert all(any(p.startswith(row) for p in platforms) for row in [*table, *grpc]), (table, grpc, platforms)
    for platform, service in grpc.items():  # served by its own gRPC server (see the Webex tests)
        methods = byova_pb2.DESCRIPTOR.services_by_name[service].methods_by_name
        assert {"ProcessCallerInput", "ListVirtualAgents"} <= set(methods), platform
    monkeypatch.setattr(
        app, "Runtime", SimpleNamespace(start=lambda *_: SimpleNamespace(media_dir=default_media_dir()))
    )
    routes = app.create_app(Settings()).routes
    for platform, path in table.items():
        scope = {"type": "websocket", "path": path, "root_path": "", "headers": [], "query_string": b""}
        assert any(route.matches(scope)[0] is Match.FULL for route in routes), f"{platform}: no {path}"
