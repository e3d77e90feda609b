"""The Zendesk Support API subset voicebot uses: user search, requested tickets, comments, new tickets.

Checks the Basic ``{email}/token:{token}`` (or Bearer) header and the search
query shape; answers with Zendesk's envelopes and error shapes.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from urllib.parse import parse_qs

from tests.standins.base import Reply, Request, StandIn

EMAIL = "bot@example.com"
API_TOKEN = "zd-api-token"


class Zendesk(StandIn):
    def __init__(self):
        super().__init__()
        self._ids = itertools.count(1000)
        self.users: list[dict] = []
        self.tickets: list[dict] = []
        self.comments: dict[int, list[dict]] = {}
        self.oauth_token: str | None = None

    def add_user(self, name: str, phone: str, created: str = "2024-01-01T00:00:00Z") -> int:
        user = {
            "id": next(self._ids),
            "name": name,
            "phone": phone,
            "email": f"{name.split()[0].lower()}@example.com",
            "created_at": created,
            "role": "end-user",
        }
        self.users.append(user)
        return user["id"]

    def add_ticket(self, requester: int, subject: str, status: str, created: str, priority: str = "normal") -> int:
        ticket = {
            "id": next(self._ids),
            "requester_id": requester,
            "subject": subject,
            "status": status,
            "priority": priority,
            "created_at": created,
            "updated_at": created,
        }
        self.tickets.append(ticket)
        self.comments[ticket["id"]] = []
        return ticket["id"]

    def handle(self, request: Request) -> Reply:
        if not self._authorised(request.headers.get("Authorization", "")):
            return Reply(401, {"error": "Couldn't authenticate you"})
        query = {k: v[0] for k, v in parse_qs(request.query).items()}
        if request.method == "GET" and request.path == "/api/v2/search.json":
            return self._search(query.get("query", ""))
        if m := re.fullmatch(r"/api/v2/users/(\d+)/tickets/requested\.json", request.path):
            if request.method == "GET":
                return self._requested(int(m.group(1)), query)
        if m := re.fullmatch(r"/api/v2/tickets/(\d+)\.json", request.path):
            if request.method == "PUT":
                return self._comment(int(m.group(1)), json.loads(request.body or b"{}"))
        if request.method == "POST" and request.path == "/api/v2/tickets.json":
            return self._create(json.loads(request.body or b"{}"))
        return Reply(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def _authorised(self, header: str) -> bool:
        if self.oauth_token and header == f"Bearer {self.oauth_token}":
            return True
        expected = base64.b64encode(f"{EMAIL}/token:{API_TOKEN}".encode()).decode()
        return header == f"Basic {expected}"

    def _search(self, query: str) -> Reply:
        m = re.fullmatch(r"type:user phone:\*(\d{4,15})", query)
        if not m:
            return Reply(400, {"error": "InvalidSearch", "description": f"unsupported query {query!r}"})
        digits = m.group(1)
        found = [
            {**u, "result_type": "user"} for u in self.users if re.sub(r"\D", "", u["phone"] or "").endswith(digits)
        ]
        return Reply(200, {"results": found, "count": len(found), "next_page": None, "previous_page": None})

    def _requested(self, user_id: int, query: dict[str, str]) -> Reply:
        if not any(u["id"] == user_id for u in self.users):
            return Reply(404, {"error": "RecordNotFound", "description": "Not found"})
        tickets = [t for t in self.tickets if t["requester_id"] == user_id]
        tickets.sort(key=lambda t: t["created_at"], reverse=query.get("sort_order") == "desc")
        return Reply(200, {"tickets": tickets, "count": len(tickets), "next_page": None})

    def _comment(self, ticket_id: int, body: dict) -> Reply:
        ticket = next((t for t in self.tickets if t["id"] == ticket_id), None)
        if ticket is None:
            return Reply(404, {"error": "RecordNotFound", "description": "Not found"})
        comment = body.get("ticket", {}).get("comment")
        if not isinstance(comment, dict) or not comment.get("body"):
            return Reply(422, {"error": "RecordInvalid", "description": "Record validation errors"})
        self.comments[ticket_id].append(comment)
        return Reply(200, {"ticket": ticket})

    def _create(self, body: dict) -> Reply:
        ticket = body.get("ticket", {})
        if not ticket.get("comment", {}).get("body") or not (ticket.get("requester_id") or ticket.get("requester")):
            return Reply(422, {"error": "RecordInvalid", "description": "Record validation errors"})
        requester = ticket.get("requester_id") or self.add_user(ticket["requester"]["name"], "")
        ticket_id = self.add_ticket(requester, ticket.get("subject", ""), "new", "2026-11-21T00:00:00Z")
        self.comments[ticket_id].append(ticket["comment"])
        return Reply(201, {"ticket": next(t for t in self.tickets if t["id"] == ticket_id)})
