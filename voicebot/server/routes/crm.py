"""Agent-facing pages of the embedded CRM: the URLs screen pops point at.

With the local backend a screen pop's "open case" and "new case" actions land
here; with a real CRM they point at that CRM instead.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from voicebot.server.state import runtime_of
from voicebot.tools.crm.local import LocalCRM
from voicebot.tools.crm.measured import MeasuredCRM

router = APIRouter(prefix="/crm")

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:15px system-ui,sans-serif;margin:2rem;max-width:42rem}}dt{{font-weight:600}}
input,textarea{{width:100%;padding:.4rem;margin:.2rem 0 .8rem}}</style></head><body>{body}</body></html>"""


def _local(request: Request) -> LocalCRM:
    crm = runtime_of(request).services.session.crm
    if isinstance(crm, MeasuredCRM):
        crm = crm.inner
    if not isinstance(crm, LocalCRM):
        raise HTTPException(404, "the embedded CRM is not in use")
    return crm


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case_form(request: Request, phone: str = "", customer_id: str = "", customer_name: str = ""):
    body = (
        '<h1>New case</h1><form method=post action="/crm/cases">'
        f'<label>Customer name<input name=name value="{escape(customer_name)}" required></label>'
        f'<label>Phone<input name=phone value="{escape(phone)}" required></label>'
        "<label>Title<input name=title required></label>"
        "<label>Case number<input name=number required></label>"
        "<button>Create case</button></form>"
    )
    return _PAGE.format(title="New case", body=body)


@router.post("/cases")
async def create_case(request: Request):
    crm = _local(request)
    form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
    missing = [k for k in ("name", "phone", "title", "number") if not form.get(k)]
    if missing:
        raise HTTPException(422, f"missing: {', '.join(missing)}")
    crm.add_customer(name=form["name"], phones=[form["phone"]])
    case = crm.add_case(phone=form["phone"], number=form["number"], title=form["title"])
    return RedirectResponse(f"/crm/cases/{case.id}", status_code=303)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(request: Request, case_id: str):
    crm = _local(request)
    case = crm.get_case(case_id)
    if case is None:
        raise HTTPException(404, f"no case {case_id}")
    customer = crm.get_customer(case.customer_id)
    notes = crm.notes(case.id)
    rows = "".join(
        f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>"
        for k, v in [
            ("Case", case.number),
            ("Title", case.title),
            ("Status", case.status),
            ("Customer", customer.name if customer else case.customer_id),
            ("Phones", ", ".join(customer.phones) if customer else ""),
            ("Created", case.created_at.isoformat()),
            ("Updated", case.updated_at.isoformat()),
        ]
    )
    note_html = "".join(f"<pre>{escape(n['created_at'])} {escape(n['body'])}</pre>" for n in notes)
    return _PAGE.format(
        title=escape(case.number),
        body=f"<h1>{escape(case.number)}</h1><dl>{rows}</dl><h2>Notes</h2>{note_html or '<p>None yet.</p>'}",
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
async def customer_page(request: Request, customer_id: str):
    crm = _local(request)
    customer = crm.get_customer(customer_id)
    if customer is None:
        raise HTTPException(404, f"no customer {customer_id}")
    cases = next((cases for c, cases in crm.list_customers() if c.id == customer_id), [])
    items = "".join(
        f'<li><a href="/crm/cases/{escape(c.id)}">{escape(c.number)}</a> {escape(c.status)}: {escape(c.title)}</li>'
        for c in cases
    )
    body = (
        f"<h1>{escape(customer.name)}</h1><dl><dt>Email</dt><dd>{escape(customer.email or '')}</dd>"
        f"<dt>Phones</dt><dd>{escape(', '.join(customer.phones))}</dd></dl><h2>Cases</h2><ul>{items}</ul>"
    )
    return _PAGE.format(title=escape(customer.name), body=body)
