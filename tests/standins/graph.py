"""Microsoft Graph's presence for many users, and the Entra token endpoint that Graph's bearer tokens come from.

``POST /{tenant}/oauth2/v2.0/token`` (client credentials, scope
``https://graph.microsoft.com/.default``) and ``POST
/v1.0/communications/getPresencesByUserId`` (a valid bearer token, at most 650
ids), answering each known user's availability and activity.
"""

from __future__ import annotations

import itertools
import json
from urllib.parse import parse_qs

from tests.standins.base import Reply, Request, StandIn

TENANT = "7c9d3a5e-0000-4000-8000-00000000beef"
CLIENT_ID = "graph-app-id"
CLIENT_SECRET = "graph-app-secret"


class GraphStandIn(StandIn):
    def __init__(self):
        super().__init__()
        self.availability: dict[str, str] = {}  # object id -> Available | Busy | Away | ...
        self.tokens: set[str] = set()
        self.token_requests = 0
        self._counter = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        if request.method == "POST" and request.path == f"/{TENANT}/oauth2/v2.0/token":
            return self._token(request)
        if request.method == "POST" and request.path == "/v1.0/communications/getPresencesByUserId":
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.tokens:
                return Reply(
                    401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token is invalid."}}
                )
            ids = json.loads(request.body or b"{}").get("ids")
            if not isinstance(ids, list) or not ids or len(ids) > 650:
                return Reply(400, {"error": {"code": "BadRequest", "message": "ids: 1 to 650 user ids"}})
            value = [
                {"id": oid, "availability": self.availability[oid], "activity": self.availability[oid]}
                for oid in ids
                if oid in self.availability
            ]
            return Reply(200, {"value": value})
        return Reply(404, {"error": {"code": "ResourceNotFound", "message": request.path}})

    def _token(self, request: Request) -> Reply:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or form.get("scope") != f"{self.url}/.default":
            return Reply(400, {"error": "invalid_scope", "error_description": "AADSTS70011"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
        token = f"graph-token-{next(self._counter)}"
        self.tokens.add(token)
        return Reply(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": token})
