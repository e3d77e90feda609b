"""Zendesk Support as the CRM: users are customers, tickets are cases.

Callers are found with the search API (``type:user phone:*<digits>``) and
confirmed with phonenumbers; their latest unresolved ticket is read from the
user's requested tickets (the search index lags by minutes; that endpoint does
not). After the call a private comment goes on the ticket, the seed flow's
"post comments" step.
"""

from __future__ import annotations

import base64
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from voicebot.tools.ani import CallerNumber, same_number
from voicebot.tools.crm.base import CallNote, Case, Customer, CustomerMatch
from voicebot.tools.crm.http import Auth, CircuitBreaker, CRMHTTPError, ResilientClient, RetryPolicy

if TYPE_CHECKING:
    from voicebot.config import Settings, ZendeskSettings

log = logging.getLogger(__name__)

UNRESOLVED = ("new", "open", "pending", "hold")


class ZendeskAuth(Auth):
    """API token (Basic ``{email}/token:{token}``) or OAuth bearer; static, so a 401 is final."""

    def __init__(self, settings: ZendeskSettings):
        if settings.oauth_token:
            self._header = f"Bearer {settings.oauth_token.get_secret_value()}"
        elif settings.email and settings.api_token:
            pair = f"{settings.email}/token:{settings.api_token.get_secret_value()}".encode()
            self._header = "Basic " + base64.b64encode(pair).decode()
        else:
            raise ValueError("crm.zendesk needs email and api_token (VOICEBOT_CRM__ZENDESK__API_TOKEN), or oauth_token")

    async def headers(self) -> dict[str, str]:
        return {"Authorization": self._header}


class ZendeskCRM:
    name = "zendesk"

    def __init__(self, settings: Settings, client: ResilientClient):
        self.settings = settings.crm.zendesk
        self.region = settings.telephony.default_region
        self.base_url = self.settings.url
        self.api = client

    async def find_customer(self, caller: CallerNumber) -> CustomerMatch | None:
        if not caller.is_known:
            return None
        response = await self.api.request(
            "GET", "/api/v2/search.json", params={"query": f"type:user phone:*{caller.national}"}
        )
        users = [r for r in response.json()["results"] if r.get("result_type", "user") == "user"]
        matches = [u for u in users if same_number(u.get("phone") or "", caller, self.region)]
        if not matches:
            return None
        matches.sort(key=lambda u: (u.get("created_at") or "", u["id"]))
        return CustomerMatch(self._customer(matches[0]), candidates=len(matches))

    async def latest_case(self, customer: Customer) -> Case | None:
        response = await self.api.request(
            "GET",
            f"/api/v2/users/{int(customer.id)}/tickets/requested.json",
            params={"sort_by": "created_at", "sort_order": "desc"},
        )
        tickets = [t for t in response.json()["tickets"] if t.get("status") in UNRESOLVED]
        tickets.sort(key=lambda t: t.get("created_at") or "", reverse=True)
        return self._case(tickets[0], customer.id) if tickets else None

    async def add_note(self, note: CallNote) -> None:
        comment = {"body": note.body, "public": False}
        if note.case_id:
            await self.api.request(
                "PUT", f"/api/v2/tickets/{int(note.case_id)}.json", json={"ticket": {"comment": comment}}
            )
            return
        if note.create_case and self.settings.create_ticket_for_unknown:
            ticket: dict[str, Any] = {
                "subject": f"Phone call from {note.caller or 'a withheld number'}",
                "comment": comment,
                "tags": ["voicebot"],
            }
            if note.customer_id:
                ticket["requester_id"] = int(note.customer_id)
            else:
                ticket["requester"] = {"name": f"Caller {note.caller or 'unknown'}"}
            await self.api.request("POST", "/api/v2/tickets.json", json={"ticket": ticket})
            return
        log.info("zendesk: call %s had no ticket to comment on; nothing written", note.call_id)

    def case_url(self, case: Case) -> str:
        return f"{self.base_url}/agent/tickets/{case.id}"

    def customer_url(self, customer: Customer) -> str:
        return f"{self.base_url}/agent/users/{customer.id}"

    def new_case_url(self, customer: Customer | None, caller: CallerNumber) -> str:
        return f"{self.base_url}/agent/tickets/new/1"

    async def close(self) -> None:
        await self.api.aclose()

    @staticmethod
    def _customer(user: dict[str, Any]) -> Customer:
        name = user.get("name") or ""
        return Customer(
            id=str(user["id"]),
            name=name,
            first_name=name.split()[0] if name else "",
            email=user.get("email"),
            phones=(user["phone"],) if user.get("phone") else (),
        )

    @staticmethod
    def _case(ticket: dict[str, Any], customer_id: str) -> Case:
        created = ticket.get("created_at")
        if not created:
            raise CRMHTTPError("zendesk: ticket without created_at", retryable=False)
        return Case(
            id=str(ticket["id"]),
            number=str(ticket["id"]),
            title=ticket.get("subject") or "",
            status=ticket["status"],
            customer_id=customer_id,
            created_at=datetime.fromisoformat(created),
            updated_at=datetime.fromisoformat(ticket.get("updated_at") or created),
            is_open=True,
            priority=ticket.get("priority"),
            kind="ticket",
        )


def open_zendesk_crm(settings: Settings, public_url: str) -> ZendeskCRM:
    """The ``crm.backend = "zendesk"`` factory."""
    crm = settings.crm
    if not (crm.zendesk.subdomain or crm.zendesk.base_url):
        raise ValueError("crm.zendesk needs subdomain (or base_url)")
    client = ResilientClient(
        crm.zendesk.url,
        name="zendesk",
        auth=ZendeskAuth(crm.zendesk),
        timeout=crm.request_timeout_secs,
        policy=RetryPolicy(max_attempts=crm.max_attempts, retry_after_max_secs=crm.retry_after_max_secs),
        breaker=CircuitBreaker(crm.breaker_failures, crm.breaker_reset_secs),
        headers={"Accept": "application/json"},
    )
    return ZendeskCRM(settings, client)
