"""Microsoft Entra ID token endpoint and the Dataverse Web API subset voicebot uses.

Checks what the real service would reject: the bearer token, the OData headers,
the `$filter` grammar (string literals with doubled quotes, GUIDs bare), and a
query string with a literal "+" (Dataverse reads it as a space: "+1415..." must
be sent as %2B). Answers with the documented envelopes and error shapes.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from urllib.parse import parse_qs, unquote

from tests.standins.base import Reply, Request, StandIn

TENANT = "contoso-tenant"
CLIENT_ID = "voicebot-client"
CLIENT_SECRET = "s3cr3t-value"
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_TERM = re.compile(r"(\w+) eq '((?:[^']|'')*)'")
_CASES = re.compile(rf"^\(_customerid_value eq ({GUID}) or _primarycontactid_value eq \1\)( and statecode eq 0)?$")
STATUS = {1: "In Progress", 2: "On Hold", 3: "Waiting for Details", 4: "Researching", 5: "Problem Solved"}


def error(status: int, code: str, message: str, **headers: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}}, headers)


# Single-valued navigation properties each entity type declares for its case or contact (the entity references:
# phonecall's Incident_Phonecalls is ``regardingobjectid_incident_phonecall``; annotation's is ``objectid_incident``).
BINDABLE = {
    "phonecalls": {"regardingobjectid_incident_phonecall", "regardingobjectid_contact_phonecall"},
    "annotations": {"objectid_incident", "objectid_contact"},
}


class Dataverse(StandIn):
    def __init__(self, org_url_path: str = ""):
        super().__init__()
        self.expires_in = 3599
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self._counter = itertools.count(1)
        self.contacts: list[dict] = []
        self.incidents: list[dict] = []
        self.accounts: list[dict] = []
        self.phonecalls: list[dict] = []
        self.annotations: list[dict] = []

    # -- data ------------------------------------------------------------------

    def add_contact(self, fullname: str, created: str = "2024-01-01T00:00:00Z", **phones: str) -> str:
        contact_id = str(uuid.uuid4())
        self.contacts.append(
            {
                "contactid": contact_id,
                "fullname": fullname,
                "firstname": fullname.split()[0],
                "emailaddress1": f"{fullname.split()[0].lower()}@example.com",
                "createdon": created,
                "telephone1": None,
                "telephone2": None,
                "telephone3": None,
                "mobilephone": None,
                **phones,
            }
        )
        return contact_id

    def add_incident(
        self,
        ticketnumber: str,
        title: str,
        created: str,
        *,
        customer: str,
        primary_contact: str | None = None,
        statecode: int = 0,
        statuscode: int = 1,
    ) -> str:
        incident_id = str(uuid.uuid4())
        self.incidents.append(
            {
                "incidentid": incident_id,
                "ticketnumber": ticketnumber,
                "title": title,
                "statecode": statecode,
                "statuscode": statuscode,
                "prioritycode": 2,
                "createdon": created,
                "modifiedon": created,
                "_customerid_value": customer,
                "_primarycontactid_value": primary_contact,
            }
        )
        return incident_id

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as at expiry)."""
        self.valid_tokens.clear()

    # -- HTTP ------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        if request.path == f"/{TENANT}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if not request.path.startswith("/api/data/v9.2/"):
            return error(404, "0x80060888", f"Resource not found for the segment '{request.path}'.")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.valid_tokens:
            return error(401, "0x80072560", "The user is not a member of the organization.")
        if request.headers.get("OData-Version") != "4.0" or request.headers.get("OData-MaxVersion") != "4.0":
            return error(400, "0x0", "OData-Version and OData-MaxVersion headers must be 4.0")
        if "+" in request.query:
            return error(400, "0x80060888", "Syntax error: a literal '+' in the query reads as a space; use %2B")
        entity = request.path.removeprefix("/api/data/v9.2/")
        query = {k: unquote(v) for k, v in (p.split("=", 1) for p in request.query.split("&") if p)}
        formatted = FORMATTED[1:] in request.headers.get("Prefer", "")
        if request.method == "GET" and entity == "contacts":
            return self._contacts(query)
        if request.method == "GET" and entity == "incidents":
            return self._incidents(query, formatted)
        if request.method == "POST" and entity in ("phonecalls", "annotations"):
            return self._create(entity, json.loads(request.body))
        return error(404, "0x80060888", f"Resource not found for the segment '{entity}'.")

    def _token(self, request: Request) -> Reply:
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials" or form.get("scope", "").endswith("/.default") is False:
            return Reply(400, {"error": "invalid_request", "error_description": "AADSTS900144"})
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return Reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."})
        token = f"token-{next(self._counter)}"
        self.valid_tokens.add(token)
        return Reply(200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": token})

    def _contacts(self, query: dict[str, str]) -> Reply:
        terms = query.get("$filter", "").split(" or ")
        parsed = [_TERM.fullmatch(t) for t in terms]
        if not terms or not all(parsed):
            return error(400, "0x80060888", f"Syntax error in $filter: {query.get('$filter')!r}")
        wanted = [(m.group(1), m.group(2).replace("''", "'")) for m in parsed]
        rows = [c for c in self.contacts if any(c.get(col) == value for col, value in wanted)]
        rows.sort(key=lambda c: c["createdon"], reverse=query.get("$orderby") == "createdon desc")
        return self._page(rows, query)

    def _incidents(self, query: dict[str, str], formatted: bool) -> Reply:
        match = _CASES.fullmatch(query.get("$filter", ""))
        if not match or query.get("$orderby") != "createdon desc":
            return error(400, "0x80060888", f"Syntax error in $filter/$orderby: {query}")
        contact, active_only = match.group(1), bool(match.group(2))
        rows = [
            i
            for i in self.incidents
            if contact in (i["_customerid_value"], i["_primarycontactid_value"])
            and (not active_only or i["statecode"] == 0)
        ]
        rows.sort(key=lambda i: i["createdon"], reverse=True)
        if formatted:
            rows = [
                {**i, f"statuscode{FORMATTED}": STATUS[i["statuscode"]], f"prioritycode{FORMATTED}": "Normal"}
                for i in rows
            ]
        return self._page(rows, query)

    def _page(self, rows: list[dict], query: dict[str, str]) -> Reply:
        top = int(query.get("$top", "5000"))
        select = query.get("$select")
        if select:
            keep = set(select.split(","))
            rows = [{k: v for k, v in r.items() if k in keep or k.split("@")[0] in keep} for r in rows]
        return Reply(200, {"@odata.context": "https://org/api/data/v9.2/$metadata", "value": rows[:top]})

    def _create(self, entity: str, body: dict) -> Reply:
        binding = re.compile(rf"^/(incidents|contacts)\({GUID}\)$")
        for key, value in body.items():
            if not key.endswith("@odata.bind"):
                continue
            name = key.removesuffix("@odata.bind")
            if name not in BINDABLE[entity]:
                # What the Web API says of a navigation property the entity type does not declare.
                return error(400, "0x80060888", f"An undeclared property '{name}' was found in the payload")
            if not binding.match(value):
                return error(400, "0x80048d19", f"Invalid binding {key}: {value}")
        if not body.get("subject"):
            return error(400, "0x80040203", "subject is required")
        record_id = str(uuid.uuid4())
        (self.phonecalls if entity == "phonecalls" else self.annotations).append(body)
        return Reply(204, None, {"OData-EntityId": f"https://org/api/data/v9.2/{entity}({record_id})"})
