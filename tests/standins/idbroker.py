"""The Webex identity broker's key endpoint (``{issuer}/oauth2/v2/keys/verificationjwk``), with tokens it would sign.

The broker's keys are RSA keys made here; :meth:`mint` signs a BYOVA token with
the claims the published example shows (shared/specs/webex-byova.md §2.2).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.standins.base import Reply, Request, StandIn

SCHEMA_ID = "5397013b-7920-4ffc-807c-e8a3e0a18f43"
DATASOURCE_URL = "https://voicebot.example.com:50061"


class IdBroker(StandIn):
    def __init__(self):
        super().__init__()
        self.issuer = self.url + "/idb"
        self.key_id = "kid-1"
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {"keys": [{**jwk, "kid": self.key_id, "alg": "RS256", "use": "sig"}]}

    def handle(self, request: Request) -> Reply:
        if request.method == "GET" and request.path == "/idb/oauth2/v2/keys/verificationjwk":
            return Reply(200, self.jwks())
        return Reply(404, {"error": "not found"})

    def rotate(self) -> None:
        """A new signing key under a new id, as the broker rolls its keys."""
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = f"kid-{uuid.uuid4().hex[:6]}"

    def mint(self, *, key=None, kid: str | None = None, alg: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": "voicebot-audience",
            "sub": "voicebot-subject",
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 3600,
            "com.cisco.datasource.url": DATASOURCE_URL,
            "com.cisco.datasource.schema.uuid": SCHEMA_ID,
            "com.cisco.org.uuid": "org-1234",
            **claims,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.private_key, algorithm=alg, headers={"kid": kid or self.key_id})
