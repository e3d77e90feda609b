"""ACS Call Automation's REST API and its signing keys, on loopback.

It checks what the service checks, written from the spec (not from voicebot's
signer): the HMAC-SHA256 ``Authorization`` over ``VERB\\npath?query\\ndate;host;hash``
under its own access key, a body hash that matches, a fresh ``x-ms-date``, the
``api-version``, and the request bodies' required fields. It also plays the
signing side of ACS's JWTs (callbacks, media upgrade) with its own RSA key and
publishes the JWKS at ``/calling/keys``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.standins.base import Reply, Request, StandIn

ACCESS_KEY = base64.b64encode(b"acs-test-access-key-32-bytes!!!!").decode()
RESOURCE_ID = "3b7b2d0a-5c1e-4a39-9f4e-0d2b9a6c1e77"  # the immutable resource id: the JWTs' audience
ISSUER = "https://acscallautomation.communication.azure.com"
API_VERSION = "2025-06-15"
MAX_SKEW_SECS = 900


def error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


class AcsStandIn(StandIn):
    def __init__(self):
        super().__init__()
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = "acs-key-1"
        self.answers: list[dict[str, Any]] = []  # answer request bodies
        self.transfers: list[tuple[str, dict[str, Any]]] = []  # (connection id, body)
        self.terminated: list[str] = []
        self.redirects: list[dict[str, Any]] = []  # calls sent on unanswered
        self.refuse_transfers_to: set[str] = set()  # rawIds whose transfer request answers 400 at once
        self.connections: dict[str, str] = {}  # connection id -> the answer's correlation (our call id)

    # -- the JWTs ACS signs ------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**jwk, "kid": self.key_id, "alg": "RS256", "use": "sig"}]}

    def mint(self, *, audience: str = RESOURCE_ID, lifetime: int = 300, key=None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime, **claims}
        return jwt.encode(body, key or self.private_key, algorithm="RS256", headers={"kid": self.key_id})

    # -- REST ------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/calling/keys":
            return Reply(200, self.jwks())
        refused = self._check_signature(request)
        if refused is not None:
            return refused
        query = parse_qs(request.query)
        if query.get("api-version") != [API_VERSION]:
            return error(400, "InvalidApiVersion", f"api-version {query.get('api-version')} is not supported")
        body = json.loads(request.body or b"{}")
        if request.method == "POST" and request.path == "/calling/callConnections:answer":
            return self._answer(body)
        if request.method == "POST" and request.path == "/calling/callConnections:redirect":
            if not body.get("incomingCallContext") or not (body.get("target") or {}).get("rawId"):
                return error(400, "BadRequest", "redirect needs incomingCallContext and target")
            self.redirects.append(body)
            return Reply(204, None)
        m = re.fullmatch(r"/calling/callConnections/([\w-]+):(transferToParticipant|terminate)", request.path)
        if request.method == "POST" and m and m.group(1) in self.connections:
            if m.group(2) == "terminate":
                self.terminated.append(m.group(1))
                return Reply(204, None)
            return self._transfer(m.group(1), body)
        return error(404, "NotFound", f"no such call connection or operation: {request.path}")

    def _check_signature(self, request: Request) -> Reply | None:
        headers = {k.lower(): v for k, v in request.headers.items()}
        date, body_hash, auth = (
            headers.get("x-ms-date", ""),
            headers.get("x-ms-content-sha256", ""),
            headers.get("authorization", ""),
        )
        if base64.b64encode(hashlib.sha256(request.body).digest()).decode() != body_hash:
            return error(401, "InvalidAuthentication", "x-ms-content-sha256 does not match the body")
        try:
            skew = abs(time.time() - parsedate_to_datetime(date).timestamp())
        except (TypeError, ValueError):
            return error(401, "InvalidAuthentication", "x-ms-date is not an RFC 1123 date")
        if skew > MAX_SKEW_SECS:
            return error(401, "InvalidAuthentication", "x-ms-date is too far from now")
        path_and_query = request.path + (f"?{request.query}" if request.query else "")
        to_sign = f"{request.method}\n{path_and_query}\n{date};{headers.get('host', '')};{body_hash}"
        digest = hmac.new(base64.b64decode(ACCESS_KEY), to_sign.encode(), hashlib.sha256).digest()
        expected = (
            "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
            + base64.b64encode(digest).decode()
        )
        if not hmac.compare_digest(auth, expected):
            return error(401, "InvalidAuthentication", "the HMAC signature does not match")
        return None

    def _answer(self, body: dict[str, Any]) -> Reply:
        options = body.get("mediaStreamingOptions") or {}
        for field in ("incomingCallContext", "callbackUri"):
            if not body.get(field):
                return error(400, "BadRequest", f"{field} is required")
        if options.get("transportType") != "websocket" or not options.get("transportUrl"):
            return error(400, "BadRequest", "mediaStreamingOptions needs transportType websocket and a transportUrl")
        if str(options.get("audioFormat", "")).lower() not in ("pcm16kmono", "pcm24kmono"):
            return error(400, "BadRequest", f"audioFormat {options.get('audioFormat')!r}")
        self.answers.append(body)
        connection_id = str(uuid.uuid4())
        self.connections[connection_id] = body["incomingCallContext"]
        return Reply(
            200,
            {
                "callConnectionId": connection_id,
                "serverCallId": base64.b64encode(connection_id.encode()).decode(),
                "callConnectionState": "connecting",
                "callbackUri": body["callbackUri"],
                "mediaStreamingSubscription": {"id": str(uuid.uuid4()), "state": "inactive"},
            },
        )

    def _transfer(self, connection_id: str, body: dict[str, Any]) -> Reply:
        target = body.get("targetParticipant") or {}
        raw_id = str(target.get("rawId", ""))
        if not raw_id.startswith(("4:+", "8:orgid:")):
            return error(400, "BadRequest", f"targetParticipant {target!r}")
        if raw_id.startswith("8:orgid:") and (target.get("microsoftTeamsUser") or {}).get("userId") != raw_id[8:]:
            return error(400, "BadRequest", "microsoftTeamsUser.userId does not match the rawId")
        headers = (body.get("customCallingContext") or {}).get("voipHeaders") or {}
        if len(headers) > 1000 or any(len(k) > 64 or len(str(v)) > 1024 for k, v in headers.items()):
            return error(400, "BadRequest", "voipHeaders beyond their limits")
        if raw_id in self.refuse_transfers_to:
            return error(400, "TransferNotAllowed", f"cannot transfer to {raw_id}")
        self.transfers.append((connection_id, body))
        return Reply(202, {"operationContext": body.get("operationContext")})
