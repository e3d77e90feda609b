"""The README's code is code: the receiver snippet accepts our pops and refuses forged or replayed ones."""

import re
import time
from pathlib import Path

from tests.http_receiver import HTTPReceiver
from voicebot.tools.screen_pop import ScreenPopWebhook

README = (Path(__file__).parents[1] / "README.md").read_text()


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
