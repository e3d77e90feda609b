"""Twilio's HTTP side: webhook signatures, and updating a live call over the REST API."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

import httpx

from voicebot.config import TwilioSettings
from voicebot.telephony.errors import PlatformAPIError

SIGNATURE_HEADER = "X-Twilio-Signature"


def request_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """Twilio's signature: base64 HMAC-SHA1 of the URL and the sorted POST parameters."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def valid_signature(url: str, params: Mapping[str, str], auth_token: str, header: str | None) -> bool:
    return bool(header) and hmac.compare_digest(request_signature(url, params, auth_token), header or "")


class TwilioAPIError(PlatformAPIError):
    pass


class TwilioCalls:
    """The Calls resource: redirect a live call to new TwiML (how a REST transfer works)."""

    def __init__(self, settings: TwilioSettings, timeout: float = 5.0):
        assert settings.auth_token is not None
        self._url = f"{settings.api_base_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}/Calls"
        self._client = httpx.AsyncClient(
            timeout=timeout, auth=(settings.account_sid, settings.auth_token.get_secret_value())
        )

    async def redirect(self, call_sid: str, twiml: str) -> None:
        try:
            response = await self._client.post(f"{self._url}/{call_sid}.json", data={"Twiml": twiml})
        except httpx.HTTPError as exc:
            raise TwilioAPIError(f"twilio: call update failed: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise TwilioAPIError(
                f"twilio: call update answered {response.status_code}: {response.text[:200]}", response.status_code
            )

    async def aclose(self) -> None:
        await self._client.aclose()
