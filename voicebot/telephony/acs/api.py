"""ACS Call Automation's REST API, as voicebot uses it: answer onto a media websocket, transfer, hang up.

Requests are signed with the access key (:mod:`~voicebot.telephony.acs.signature`).
Participants are ``CommunicationIdentifierModel`` objects: a phone number
(``4:+1...``) or a Teams user by Entra object id (``8:orgid:<oid>``).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any
from urllib.parse import quote

import httpx

from voicebot.telephony.acs.signature import AccessKeyAuth
from voicebot.telephony.errors import PlatformAPIError

log = logging.getLogger(__name__)

OBJECT_ID = re.compile(r"^(?:8:orgid:)?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class AcsAPIError(PlatformAPIError):
    pass


@dataclass(frozen=True, slots=True)
class Participant:
    """Who a call goes to: a Teams user (by Entra object id) or a phone number."""

    kind: str  # "microsoftTeamsUser" | "phoneNumber"
    id: str  # the object id, or the E.164 number

    @classmethod
    def teams_user(cls, object_id: str) -> Participant:
        return cls("microsoftTeamsUser", object_id.lower())

    @classmethod
    def phone(cls, number: str) -> Participant:
        return cls("phoneNumber", number)

    @classmethod
    def parse(cls, target: str) -> Participant | None:
        """A transfer target as written in settings: an object id (or ``8:orgid:`` id), or an E.164 number."""
        if m := OBJECT_ID.match(target.strip()):
            return cls.teams_user(m.group(1))
        if E164.match(target.strip()):
            return cls.phone(target.strip())
        return None

    @property
    def raw_id(self) -> str:
        return f"8:orgid:{self.id}" if self.kind == "microsoftTeamsUser" else f"4:{self.id}"

    def identifier(self) -> dict[str, Any]:
        if self.kind == "microsoftTeamsUser":
            user = {"userId": self.id, "isAnonymous": False, "cloud": "public"}
            return {"rawId": self.raw_id, "kind": self.kind, "microsoftTeamsUser": user}
        return {"rawId": self.raw_id, "kind": self.kind, "phoneNumber": {"value": self.id}}


@dataclass(frozen=True, slots=True)
class Answered:
    call_connection_id: str
    server_call_id: str


class AcsCalls:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        api_version: str,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.endpoint = endpoint.rstrip("/")
        self._version = api_version
        self._client = httpx.AsyncClient(
            base_url=self.endpoint, auth=AccessKeyAuth(access_key), timeout=timeout, transport=transport
        )

    async def _post(self, what: str, path: str, body: dict[str, Any] | None, ok: tuple[int, ...]) -> httpx.Response:
        headers = {"Repeatability-Request-ID": str(uuid.uuid4()), "Repeatability-First-Sent": formatdate(usegmt=True)}
        try:
            response = await self._client.post(
                path, params={"api-version": self._version}, json=body or {}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise AcsAPIError(f"acs: {what} failed: {type(exc).__name__}") from exc
        if response.status_code not in ok:
            raise AcsAPIError(f"acs: {what} answered {response.status_code}: {_error(response)}", response.status_code)
        return response

    async def answer(self, incoming_call_context: str, callback_uri: str, transport_url: str) -> Answered:
        """Answer with bidirectional media streaming (16 kHz PCM, mixed, DTMF tones) to ``transport_url``."""
        body = {
            "incomingCallContext": incoming_call_context,
            "callbackUri": callback_uri,
            "operationContext": "voicebot-answer",
            "mediaStreamingOptions": {
                "transportType": "websocket",
                "transportUrl": transport_url,
                "contentType": "audio",
                "audioChannelType": "mixed",
                "startMediaStreaming": True,
                "enableBidirectional": True,
                "audioFormat": "pcm16KMono",
                "enableDtmfTones": True,
            },
        }
        data = (await self._post("answer", "/calling/callConnections:answer", body, (200,))).json()
        return Answered(str(data.get("callConnectionId", "")), str(data.get("serverCallId", "")))

    async def redirect(self, incoming_call_context: str, target: Participant) -> None:
        """Send a call not answered here straight to ``target`` (no bot leg)."""
        body = {"incomingCallContext": incoming_call_context, "target": target.identifier()}
        await self._post("redirect", "/calling/callConnections:redirect", body, (204,))

    async def transfer(
        self, connection_id: str, target: Participant, context: str, callback_uri: str, voip_headers: dict[str, str]
    ) -> None:
        """Blind transfer; the outcome comes later as CallTransferAccepted or CallTransferFailed."""
        body: dict[str, Any] = {
            "targetParticipant": target.identifier(),
            "operationContext": context,
            "operationCallbackUri": callback_uri,
        }
        if target.kind == "microsoftTeamsUser":  # VoIP headers ride VoIP calls; a phone target takes none
            body["customCallingContext"] = {"voipHeaders": voip_headers, "sipHeaders": {}}
        path = f"/calling/callConnections/{quote(connection_id)}:transferToParticipant"
        await self._post("transfer", path, body, (202,))

    async def terminate(self, connection_id: str) -> None:
        """Hang up for everyone; a call already gone is not an error."""
        path = f"/calling/callConnections/{quote(connection_id)}:terminate"
        try:
            await self._post("terminate", path, None, (204,))
        except AcsAPIError as exc:
            if exc.status != 404:
                raise
            log.info("acs: terminate on a call that already ended")

    async def aclose(self) -> None:
        await self._client.aclose()


def _error(response: httpx.Response) -> str:
    try:
        error = response.json().get("error", {})
        return f"{error.get('code')}: {str(error.get('message'))[:200]}"
    except ValueError:
        return response.text[:200]
