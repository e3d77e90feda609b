"""Telnyx Call Control: the commands that answer, transfer, enqueue and hang up a call.

A Telnyx media stream is a fork of the call: closing it leaves the caller on the
line in silence. Every ending therefore goes through a command on the call's
``call_control_id`` (Bearer API key).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import Any
from urllib.parse import quote

import httpx

from voicebot.config import TelnyxSettings, TransferSettings
from voicebot.telephony.errors import PlatformAPIError
from voicebot.telephony.markup import POP_HEADER
from voicebot.tools.screen_pop import ScreenPop
from voicebot.tools.transfer import TransferTarget

log = logging.getLogger(__name__)

CALL_ALREADY_ENDED = "90018"


class TelnyxAPIError(PlatformAPIError):
    pass


def client_state(data: dict[str, Any]) -> str:
    """Telnyx echoes ``client_state`` (base64) in later webhooks: how the pop id reaches the agent side."""
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


class TelnyxCalls:
    def __init__(self, settings: TelnyxSettings, transfer: TransferSettings, timeout: float = 5.0):
        assert settings.api_key is not None
        self._transfer = transfer
        self._base = settings.api_base_url.rstrip("/") + "/v2/calls"
        self._client = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}
        )

    async def command(self, call_control_id: str, action: str, body: dict[str, Any] | None = None) -> None:
        """POST one Call Control command; a call that already ended is not an error."""
        url = f"{self._base}/{quote(call_control_id, safe=':')}/actions/{action}"
        try:
            response = await self._client.post(url, json=body or {})
        except httpx.HTTPError as exc:
            raise TelnyxAPIError(f"telnyx: {action} failed: {type(exc).__name__}") from exc
        if response.status_code == 422 and CALL_ALREADY_ENDED in response.text:
            log.info("telnyx: %s on a call that already ended", action)
            return
        if response.status_code >= 300:
            raise TelnyxAPIError(
                f"telnyx: {action} answered {response.status_code}: {response.text[:200]}", response.status_code
            )

    async def answer_with_stream(self, call_control_id: str, stream_url: str) -> None:
        await self.command(
            call_control_id,
            "answer",
            {
                "stream_url": stream_url,
                "stream_track": "inbound_track",
                "stream_bidirectional_mode": "rtp",
                "stream_bidirectional_codec": "PCMU",
            },
        )

    async def hand_over(self, call_control_id: str, target: TransferTarget, pop: ScreenPop | None, dialed: str) -> None:
        pop_id = pop.id if pop else ""
        """``transfer`` to a number or SIP URI (the pop id in a SIP header), or ``enqueue`` into a queue."""
        state = client_state({"screen_pop_id": pop_id})
        if target.mode == "dial":
            body = {
                "to": target.target,
                "timeout_secs": self._transfer.dial_timeout_secs,
                "custom_headers": [{"name": POP_HEADER, "value": pop_id}],
                "client_state": state,
            }
            await self.command(call_control_id, "transfer", body)
        else:
            await self.command(call_control_id, "enqueue", {"queue_name": target.target, "client_state": state})

    async def hang_up(self, call_control_id: str) -> None:
        await self.command(call_control_id, "hangup")

    async def aclose(self) -> None:
        await self._client.aclose()
