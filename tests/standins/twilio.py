"""The Twilio REST Calls resource: enough to redirect a live call with new TwiML."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs

from tests.standins.base import Reply, Request, StandIn

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-auth-token"


class TwilioREST(StandIn):
    def __init__(self):
        super().__init__()
        self.updates: list[tuple[str, dict[str, str]]] = []  # (CallSid, form)

    def handle(self, request: Request) -> Reply:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        m = re.fullmatch(rf"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/(CA\w+)\.json", request.path)
        if request.method != "POST" or not m:
            return Reply(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
        if "application/x-www-form-urlencoded" not in request.headers.get("Content-Type", ""):
            return Reply(400, {"code": 20001, "message": "form body expected", "status": 400})
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        twiml = form.get("Twiml", "")
        if not twiml.strip().startswith("<?xml") or "<Response>" not in twiml:
            return Reply(400, {"code": 12100, "message": "Document parse failure", "status": 400})
        self.updates.append((m.group(1), form))
        return Reply(200, {"sid": m.group(1), "account_sid": ACCOUNT_SID, "status": "in-progress"})
