"""The Vonage Voice API call update: ``PUT /v1/calls/{uuid}``, signed with the application's RS256 JWT."""

from __future__ import annotations

import json
import re

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.standins.base import Reply, Request, StandIn

APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"


def new_key_pair() -> tuple[str, str]:
    """A fresh RSA key pair (private PEM, public PEM), as the Vonage dashboard would generate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class VonageVoiceAPI(StandIn):
    def __init__(self, public_key: str):
        super().__init__()
        self.public_key = public_key
        self.updates: list[tuple[str, dict]] = []  # (call uuid, body)

    def handle(self, request: Request) -> Reply:
        auth = request.headers.get("Authorization", "")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return Reply(401, {"title": "Unauthorized", "detail": str(exc)})
        if claims.get("application_id") != APPLICATION_ID or "jti" not in claims:
            return Reply(401, {"title": "Unauthorized", "detail": "wrong application"})
        m = re.fullmatch(r"/v1/calls/([0-9a-f-]{36})", request.path)
        if request.method != "PUT" or not m:
            return Reply(404, {"title": "Not found"})
        body = json.loads(request.body or b"{}")
        if body.get("action") == "transfer":
            destination = body.get("destination") or {}
            if destination.get("type") != "ncco" or not isinstance(destination.get("ncco"), list):
                return Reply(400, {"title": "Bad Request", "detail": "destination.ncco expected"})
        elif body.get("action") != "hangup":
            return Reply(400, {"title": "Bad Request", "detail": f"unsupported action {body.get('action')!r}"})
        self.updates.append((m.group(1), body))
        return Reply(204)
