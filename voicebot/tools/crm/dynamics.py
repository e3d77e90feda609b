"""Microsoft Dynamics 365 (Dataverse Web API v9.2) as the CRM.

Callers are matched on the contact phone columns with every form the number
may be stored in, then confirmed with phonenumbers; cases are incidents where
the contact is the customer or an account case's primary contact. Access is an
Entra ID client-credentials token, cached and shared across calls.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import phonenumbers

from voicebot.tools.ani import CallerNumber, same_number
from voicebot.tools.crm.base import CallNote, Case, Customer, CustomerMatch
from voicebot.tools.crm.http import CircuitBreaker, CRMHTTPError, ResilientClient, RetryPolicy
from voicebot.tools.entra import EntraToken

if TYPE_CHECKING:
    from voicebot.config import DynamicsSettings, Settings

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Characters left as they are in query values; everything else is percent-encoded
# ("+" as %2B, a space as %20), as Dataverse reads a bare "+" as a space.
_QUERY_SAFE = "$(),'=:-_."


def odata_string(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def odata_query(params: dict[str, str]) -> str:
    return "&".join(f"{key}={quote(value, safe=_QUERY_SAFE)}" for key, value in params.items())


def stored_forms(caller: CallerNumber) -> list[str]:
    """The shapes a Dataverse phone column may hold this number in.

    Dataverse compares strings, so "(415) 555-2671", "415-555-2671" and
    "+1 415-555-2671" are different values: search for each common writing
    (digit groups as the national format groups them, joined by a space, dot or
    dash, with and without the country code).
    """
    forms = caller.variants()
    if caller.e164:
        parsed = phonenumbers.parse(caller.e164)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
        international = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        groups = re.findall(r"\d+", national)
        forms += [national, international, f"+{caller.country_code} {national}"]
        for sep in ("-", ".", " "):
            joined = sep.join(groups)
            forms += [joined, f"+{caller.country_code}{sep}{joined}", f"{caller.country_code}{sep}{joined}"]
    return list(dict.fromkeys(forms))


def _token_failure(message: str, status: int | None, retryable: bool) -> Exception:
    return CRMHTTPError(message, status, retryable=retryable)


def entra_token(settings: DynamicsSettings, timeout: float) -> EntraToken:
    if not (settings.tenant_id and settings.client_id and settings.client_secret and settings.org_url):
        raise ValueError(
            "crm.dynamics needs org_url, tenant_id, client_id and client_secret (VOICEBOT_CRM__DYNAMICS__CLIENT_SECRET)"
        )
    return EntraToken(
        authority_url=settings.authority_url,
        tenant_id=settings.tenant_id,
        client_id=settings.client_id,
        client_secret=settings.client_secret.get_secret_value(),
        scope=f"{settings.org_url.rstrip('/')}/.default",
        label="dynamics",
        failure=_token_failure,
        timeout=timeout,
    )


class DynamicsCRM:
    name = "dynamics"

    def __init__(self, settings: Settings, client: ResilientClient, token: EntraToken):
        self.settings = settings.crm.dynamics
        self.region = settings.telephony.default_region
        self.org_url = self.settings.org_url.rstrip("/")
        self.api = client
        self.token = token

    # -- look-ups --------------------------------------------------------------

    async def find_customer(self, caller: CallerNumber) -> CustomerMatch | None:
        if not caller.is_known:
            return None
        columns = self.settings.phone_columns
        terms = [f"{col} eq {odata_string(form)}" for col in columns for form in stored_forms(caller)]
        query = odata_query(
            {
                "$select": ",".join(["contactid", "fullname", "firstname", "emailaddress1", "createdon", *columns]),
                "$filter": " or ".join(terms),
                "$orderby": "createdon asc",
                "$top": "10",
            }
        )
        rows = (await self.api.request("GET", f"contacts?{query}")).json()["value"]
        matches = [r for r in rows if any(same_number(r.get(c) or "", caller, self.region) for c in columns)]
        if not matches:
            return None
        matches.sort(key=lambda r: (r.get("createdon") or "", r["contactid"]))
        return CustomerMatch(self._customer(matches[0]), candidates=len(matches))

    async def latest_case(self, customer: Customer) -> Case | None:
        if not _GUID.match(customer.id):
            raise CRMHTTPError(f"dynamics: {customer.id!r} is not a contact id", retryable=False)
        where = f"(_customerid_value eq {customer.id} or _primarycontactid_value eq {customer.id})"
        if self.settings.cases == "active_only":
            where += " and statecode eq 0"
        query = odata_query(
            {
                "$select": "incidentid,ticketnumber,title,statecode,statuscode,prioritycode,createdon,modifiedon",
                "$filter": where,
                "$orderby": "createdon desc",
                "$top": "10",
            }
        )
        rows = (await self.api.request("GET", f"incidents?{query}")).json()["value"]
        if self.settings.cases == "prefer_active":
            rows = sorted(rows, key=lambda r: r.get("statecode") != 0)  # stable: newest active first
        return self._case(rows[0], customer.id) if rows else None

    # -- after the call --------------------------------------------------------

    async def add_note(self, note: CallNote) -> None:
        if self.settings.note_kind == "annotation" and (note.case_id or note.customer_id):
            body: dict[str, Any] = {"subject": note.subject, "notetext": note.body}
            if note.case_id:
                body["objectid_incident@odata.bind"] = f"/incidents({note.case_id})"
            else:
                body["objectid_contact@odata.bind"] = f"/contacts({note.customer_id})"
            await self.api.request("POST", "annotations", json=body)
            return
        body = {
            "subject": note.subject,
            "phonenumber": note.caller or "",
            "directioncode": False,  # incoming
            "description": note.body,
        }
        # The phone call's own navigation properties (the entity reference's ReferencingEntityNavigationPropertyName):
        # the activity base type's ``regardingobjectid_incident`` is refused on create.
        if note.case_id:
            body["regardingobjectid_incident_phonecall@odata.bind"] = f"/incidents({note.case_id})"
        elif note.customer_id:
            body["regardingobjectid_contact_phonecall@odata.bind"] = f"/contacts({note.customer_id})"
        await self.api.request("POST", "phonecalls", json=body)

    # -- screen-pop URLs -------------------------------------------------------

    def _record_url(self, entity: str, record_id: str | None = None, extraqs: str | None = None) -> str:
        params = {"appid": self.settings.app_id, "pagetype": "entityrecord", "etn": entity}
        if record_id:
            params["id"] = record_id
        if extraqs:
            params["extraqs"] = extraqs
        return f"{self.org_url}/main.aspx?{urlencode(params)}"

    def case_url(self, case: Case) -> str:
        return self._record_url("incident", case.id)

    def customer_url(self, customer: Customer) -> str:
        return self._record_url("contact", customer.id)

    def new_case_url(self, customer: Customer | None, caller: CallerNumber) -> str:
        fields = {"caseorigincode": "1", "title": f"Phone call from {caller.e164 or 'a withheld number'}"}
        if customer:
            fields |= {"customerid": customer.id, "customeridname": customer.name, "customeridtype": "contact"}
        return self._record_url("incident", extraqs=urlencode(fields))

    async def close(self) -> None:
        await self.api.aclose()
        await self.token.aclose()

    # -- records ---------------------------------------------------------------

    def _customer(self, row: dict[str, Any]) -> Customer:
        name = row.get("fullname") or ""
        return Customer(
            id=row["contactid"],
            name=name,
            first_name=row.get("firstname") or (name.split()[0] if name else ""),
            email=row.get("emailaddress1"),
            phones=tuple(row[c] for c in self.settings.phone_columns if row.get(c)),
        )

    def _case(self, row: dict[str, Any], customer_id: str) -> Case:
        return Case(
            id=row["incidentid"],
            number=row.get("ticketnumber") or row["incidentid"],
            title=row.get("title") or "",
            status=row.get(f"statuscode{FORMATTED}") or str(row.get("statuscode", "")),
            customer_id=customer_id,
            created_at=_datetime(row.get("createdon")),
            updated_at=_datetime(row.get("modifiedon") or row.get("createdon")),
            is_open=row.get("statecode") == 0,
            priority=row.get(f"prioritycode{FORMATTED}"),
        )


def _datetime(value: str | None) -> datetime:
    if not value:
        raise CRMHTTPError("dynamics: record without a date", retryable=False)
    return datetime.fromisoformat(value)


def open_dynamics_crm(settings: Settings, public_url: str) -> DynamicsCRM:
    """The ``crm.backend = "dynamics"`` factory."""
    crm = settings.crm
    token = entra_token(crm.dynamics, crm.request_timeout_secs)
    client = ResilientClient(
        crm.dynamics.org_url.rstrip("/") + API_PATH,
        name="dynamics",
        auth=token,
        timeout=crm.request_timeout_secs,
        policy=RetryPolicy(max_attempts=crm.max_attempts, retry_after_max_secs=crm.retry_after_max_secs),
        breaker=CircuitBreaker(crm.breaker_failures, crm.breaker_reset_secs),
        headers={
            "Accept": "application/json",
            "OData-MaxVersion": "4.0",
            "OData-Version": "4.0",
            "Prefer": f'odata.include-annotations="{FORMATTED[1:]}"',
        },
    )
    return DynamicsCRM(settings, client, token)
