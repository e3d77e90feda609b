"""The Dynamics 365 Channel Integration Framework (v2) provider page: voicebot's calls inside Customer Service.

An admin registers ``/cif/widget?token=...`` as the channel provider's landing
URL; Dynamics shows it in the agent's communication panel and provides the CIF
library (``msdyn_ciLibrary.js``, loaded from the org, never a CDN). The page
follows the same live events as the agent desktop, and on a hand-off opens a
session named after the caller with the case, a new-case form or the caller's
contacts.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from voicebot.server.state import runtime_of

router = APIRouter(prefix="/cif")  # behind voicebot.server.access.OperatorAccess

NO_ORG = "cif.org_url (or crm.dynamics.org_url) is not set: the widget cannot load Dynamics' CIF library"


@router.get("/widget", response_class=HTMLResponse)
async def widget(request: Request) -> Response:
    settings = runtime_of(request).settings
    org = (settings.cif.org_url or settings.crm.dynamics.org_url).rstrip("/")
    if not org:
        return PlainTextResponse(NO_ORG, status_code=503)
    config = json.dumps({"sessionTemplate": settings.cif.session_template}).replace("</", "<\\/")
    page = resources.files("voicebot.static").joinpath("cif.html").read_text()
    return HTMLResponse(
        page.replace("{{CIF_LIBRARY}}", escape(f"{org}/webresources/Widget/msdyn_ciLibrary.js"))
        .replace("{{CRM_URL}}", escape(org))
        .replace("{{CONFIG}}", config)
    )
