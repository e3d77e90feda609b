"""Screen pops: the payload an agent's desktop gets with a transferred caller, and its delivery.

The payload is versioned (``voicebot.screen_pop/v1``) and published as a JSON
Schema in :file:`voicebot/schemas/screen_pop.v1.json`. Delivery is an HTTP POST
signed with HMAC-SHA256 over the send time and the body (so a captured request
cannot be replayed later), sent through the durable outbox so a slow or failing
receiver never holds up a call and never loses a pop.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any, Final, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from voicebot.storage.outbox import PermanentError
from voicebot.storage.records import CallInfo, Turn, utcnow
from voicebot.tools.crm.base import CRM, Case, Customer
from voicebot.tools.lookup import CallerContext, CRMStatus
from voicebot.tools.transfer import TransferTarget

SCHEMA_ID: Final = "voicebot.screen_pop/v1"
SIGNATURE_HEADER = "X-Voicebot-Signature"
TIMESTAMP_HEADER = "X-Voicebot-Timestamp"
TOLERANCE_SECS = 300  # how old a signed request a receiver should accept


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PopCustomer(_Part):
    id: str
    name: str
    first_name: str
    email: str | None = None
    phones: list[str] = []
    url: str | None = None

    @classmethod
    def of(cls, customer: Customer, crm: CRM | None = None) -> PopCustomer:
        return cls(
            id=customer.id,
            name=customer.name,
            first_name=customer.first_name,
            email=customer.email,
            phones=list(customer.phones),
            url=crm.customer_url(customer) if crm is not None else None,
        )


class PopCase(_Part):
    id: str
    number: str
    kind: str
    title: str
    status: str
    priority: str | None
    created_at: str
    updated_at: str
    url: str | None = None

    @classmethod
    def of(cls, case: Case, crm: CRM | None = None) -> PopCase:
        return cls(
            id=case.id,
            number=case.number,
            kind=case.kind,
            title=case.title,
            status=case.status,
            priority=case.priority,
            created_at=case.created_at.isoformat(),
            updated_at=case.updated_at.isoformat(),
            url=crm.case_url(case) if crm is not None else None,
        )


class PopAni(_Part):
    raw: str
    e164: str | None
    national: str | None


class PopCall(_Part):
    id: str
    platform: str
    stream_id: str | None
    dialed: str | None
    started_at: str
    ani: PopAni


class PopCRM(_Part):
    backend: str
    status: CRMStatus
    error: str | None
    candidates: int
    ambiguous_match: bool


class PopAction(_Part):
    type: Literal["open_case", "new_case_form"]
    url: str


class PopTransfer(_Part):
    mode: Literal["dial", "enqueue"]
    target: str
    why: str | None = None  # who was chosen and why, when the platform chose an agent (ACS: Teams presence)


class PopTurn(_Part):
    role: Literal["caller", "bot"]
    text: str
    at: str


class ScreenPop(_Part):
    """The ``voicebot.screen_pop/v1`` payload; :meth:`to_json` is what the schema file describes."""

    schema_id: Literal["voicebot.screen_pop/v1"] = Field(default=SCHEMA_ID, alias="schema")
    id: str
    created_at: str
    call: PopCall
    reason: str
    crm: PopCRM
    customer: PopCustomer | None
    case: PopCase | None
    action: PopAction
    transfer: PopTransfer
    transcript: list[PopTurn]
    summary: str

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)


def customer_json(customer: Customer | None, crm: CRM | None = None) -> dict[str, Any] | None:
    """The customer as the call record and the desktop show it (with its CRM link when ``crm`` is given)."""
    return None if customer is None else _linked(PopCustomer.of(customer, crm).model_dump(), crm)


def case_json(case: Case | None, crm: CRM | None = None) -> dict[str, Any] | None:
    return None if case is None else _linked(PopCase.of(case, crm).model_dump(), crm)


def _linked(data: dict[str, Any], crm: CRM | None) -> dict[str, Any]:
    if crm is None:
        del data["url"]
    return data


def summarize(context: CallerContext, reason: str, transcript: list[Turn], intents: list[str]) -> str:
    """One paragraph an agent can read in five seconds."""
    who = (
        context.customer.name if context.customer else f"An unknown caller ({context.caller.e164 or 'number withheld'})"
    )
    parts = [f"{who} called"]
    if context.case:
        parts.append(f"about case {context.case.number} ({context.case.title}, status {context.case.status})")
    elif context.customer:
        parts.append("with no open case")
    sentence = " ".join(parts) + "."
    said = [t.text for t in transcript if t.role == "caller"]
    if said:
        sentence += " The caller said: " + " / ".join(f'"{s}"' for s in said[-3:]) + "."
    if intents:
        sentence += f" Understood: {', '.join(intents)}."
    sentence += f" Outcome reason: {reason.replace('_', ' ')}."
    if context.crm_status == "unavailable":
        sentence += f" The CRM was unavailable ({context.crm_error}); check the caller's identity."
    if context.ambiguous:
        sentence += f" {context.candidates} CRM records share this number; the oldest was chosen."
    return sentence


def build_screen_pop(
    *,
    call: CallInfo,
    context: CallerContext,
    crm: CRM,
    reason: str,
    action: Literal["open_case", "new_case_form"],
    transfer: TransferTarget,
    transcript: list[Turn],
    intents: list[str],
) -> ScreenPop:
    if action == "open_case" and context.case is None:
        action = "new_case_form"
    url = (
        crm.case_url(context.case)
        if action == "open_case" and context.case
        else crm.new_case_url(context.customer, context.caller)
    )
    caller = context.caller
    return ScreenPop(
        id=uuid.uuid4().hex,
        created_at=utcnow(),
        call=PopCall(
            id=call.id,
            platform=call.platform,
            stream_id=call.stream_id,
            dialed=call.dialed,
            started_at=call.started_at,
            ani=PopAni(raw=caller.raw, e164=caller.e164, national=caller.national),
        ),
        reason=reason,
        crm=PopCRM(
            backend=crm.name,
            status=context.crm_status,
            error=context.crm_error,
            candidates=context.candidates,
            ambiguous_match=context.ambiguous,
        ),
        customer=PopCustomer.of(context.customer, crm) if context.customer else None,
        case=PopCase.of(context.case, crm) if context.case else None,
        action=PopAction(type=action, url=url),
        transfer=PopTransfer(mode=transfer.mode, target=transfer.target, why=transfer.why or None),
        transcript=[PopTurn(role=t.role, text=t.text, at=t.started_at) for t in transcript],
        summary=summarize(context, reason, transcript, intents),
    )


def sign(body: bytes, secret: str, timestamp: int) -> str:
    """HMAC-SHA256 of ``<timestamp>.<body>``: the signature vouches for when the pop was sent, too."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def verify(
    body: bytes, secret: str, signature: str, timestamp: str, now: float | None = None, tolerance=TOLERANCE_SECS
) -> bool:
    """The receiver's check (the README has it standalone): signed by us, and recently."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(body, secret, sent).encode(), signature.encode())


class ScreenPopWebhook:
    """POSTs a screen pop to the configured webhook, once; the outbox retries failures."""

    def __init__(self, url: str | None, secret: str | None, timeout: float = 5.0):
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=timeout)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    async def post(self, payload: dict[str, Any]) -> None:
        """Deliver or raise; a 4xx other than 429 is permanent (retrying cannot help)."""
        assert self.url
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "voicebot"}
        if self.secret:  # each attempt is signed afresh, so an outbox retry is never "too old"
            timestamp = int(time.time())
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(body, self.secret, timestamp)
        response = await self._client.post(self.url, content=body, headers=headers)
        if response.status_code >= 300:
            message = f"screen pop {payload.get('id')}: webhook answered {response.status_code}"
            if 400 <= response.status_code < 500 and response.status_code != 429:
                raise PermanentError(message)
            raise RuntimeError(message)

    async def aclose(self) -> None:
        await self._client.aclose()
