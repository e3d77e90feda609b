"""Vonage Voice API: the answer NCCO that streams a call to the bot, and the call update that ends it.

Requests are signed with a short-lived RS256 JWT made from the Vonage
application's id and private key. Transfers replace the caller leg's NCCO: a
``connect`` to a phone number or SIP URI, or a named ``conversation`` with hold
music for queue mode (agents join it from their own leg).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from voicebot.config import TransferSettings, VonageSettings
from voicebot.telephony.errors import PlatformAPIError
from voicebot.telephony.markup import POP_HEADER
from voicebot.tools.screen_pop import ScreenPop
from voicebot.tools.transfer import TransferTarget

AUDIO_RATE = 16000
JWT_LIFETIME_SECS = 300


class VonageAPIError(PlatformAPIError):
    pass


def answer_ncco(
    public_url: str,
    public_ws_url: str,
    caller: str,
    dialed: str,
    call_uuid: str,
    extra: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Connect the caller to the bot's websocket; the headers become the ``websocket:connected`` message."""
    return [
        {
            "action": "connect",
            "eventUrl": [public_url + "/vonage/event"],
            "from": dialed,
            "endpoint": [
                {
                    "type": "websocket",
                    "uri": public_ws_url + "/vonage/media",
                    "content-type": f"audio/l16;rate={AUDIO_RATE}",
                    "headers": {"from": caller, "to": dialed, "call_uuid": call_uuid, **(extra or {})},
                }
            ],
        }
    ]


def transfer_ncco(
    target: TransferTarget, pop_id: str, dialed: str, settings: TransferSettings, public_url: str
) -> list[dict[str, Any]]:
    if target.mode == "enqueue":
        return [
            {"action": "conversation", "name": target.target, "musicOnHoldUrl": [public_url + "/media/hold-music.wav"]}
        ]
    if target.target.startswith("sip:"):
        endpoint = {"type": "sip", "uri": target.target, "headers": {POP_HEADER: pop_id}}
    else:
        endpoint = {"type": "phone", "number": "".join(c for c in target.target if c.isdigit())}
    return [{"action": "connect", "from": dialed, "timeout": settings.dial_timeout_secs, "endpoint": [endpoint]}]


class VonageCalls:
    """``PUT /v1/calls/{uuid}``: transfer to a new NCCO, or hang up."""

    def __init__(self, settings: VonageSettings, transfer: TransferSettings, public_url: str, timeout: float = 5.0):
        self._transfer = transfer
        self._public_url = public_url
        self._application_id = settings.application_id
        self._private_key = settings.private_key_pem()
        self._base = settings.api_base_url.rstrip("/") + "/v1/calls"
        self._client = httpx.AsyncClient(timeout=timeout)

    def token(self) -> str:
        now = int(time.time())
        claims = {
            "application_id": self._application_id,
            "iat": now,
            "exp": now + JWT_LIFETIME_SECS,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256")

    async def update(self, call_uuid: str, body: dict[str, Any]) -> None:
        try:
            response = await self._client.put(
                f"{self._base}/{call_uuid}", json=body, headers={"Authorization": f"Bearer {self.token()}"}
            )
        except httpx.HTTPError as exc:
            raise VonageAPIError(f"vonage: call update failed: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise VonageAPIError(
                f"vonage: call update answered {response.status_code}: {response.text[:200]}", response.status_code
            )

    async def hand_over(self, call_uuid: str, target: TransferTarget, pop: ScreenPop | None, dialed: str) -> None:
        ncco = transfer_ncco(target, pop.id if pop else "", dialed, self._transfer, self._public_url)
        await self.update(call_uuid, {"action": "transfer", "destination": {"type": "ncco", "ncco": ncco}})

    async def hang_up(self, call_uuid: str) -> None:
        await self.update(call_uuid, {"action": "hangup"})

    async def aclose(self) -> None:
        await self._client.aclose()
