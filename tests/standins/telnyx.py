"""Telnyx Call Control commands: ``POST /v2/calls/{call_control_id}/actions/{action}`` with a Bearer key."""

from __future__ import annotations

import json
import re

from tests.standins.base import Reply, Request, StandIn

API_KEY = "KEY-telnyx-test"
ACTIONS = {"answer", "transfer", "enqueue", "hangup"}


class TelnyxCallControl(StandIn):
    def __init__(self):
        super().__init__()
        self.commands: list[tuple[str, str, dict]] = []  # (call_control_id, action, body)

    def handle(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return Reply(401, {"errors": [{"code": "10009", "title": "Authentication failed"}]})
        m = re.fullmatch(r"/v2/calls/(v3:[\w-]+)/actions/(\w+)", request.path)
        if request.method != "POST" or not m or m.group(2) not in ACTIONS:
            return Reply(404, {"errors": [{"code": "10005", "title": "Resource not found"}]})
        if "application/json" not in request.headers.get("Content-Type", ""):
            return Reply(415, {"errors": [{"code": "10015", "title": "JSON body expected"}]})
        body = json.loads(request.body or b"{}")
        action = m.group(2)
        missing = {"transfer": "to", "enqueue": "queue_name", "answer": "stream_url"}.get(action)
        if missing and not body.get(missing):
            return Reply(422, {"errors": [{"code": "10032", "title": f"{missing} is required"}]})
        self.commands.append((m.group(1), action, body))
        return Reply(200, {"data": {"result": "ok"}})

    def for_call(self, call_control_id: str) -> list[tuple[str, dict]]:
        return [(action, body) for cid, action, body in self.commands if cid == call_control_id]
