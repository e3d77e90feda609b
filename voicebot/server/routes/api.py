"""The operator's JSON API: call records, metrics, the outbox (and putting a parked item back), the caller
look-up for flows that keep their own IVR, the health check."""

from __future__ import annotations

import os
from dataclasses import asdict

from fastapi import APIRouter, HTTPException, Request

from voicebot.server.state import runtime_of
from voicebot.storage.outbox import Status
from voicebot.tools.ani import normalize_ani
from voicebot.tools.lookup import look_up_caller
from voicebot.tools.transfer import transfer_target

router = APIRouter()


@router.get("/healthz")
async def healthz(request: Request) -> dict:
    runtime = runtime_of(request)
    return {
        "status": "ok",
        "crm": runtime.services.session.crm.name,
        "model_load_secs": round(runtime.model_load_secs, 2),
        "pid": os.getpid(),  # which server process answered (``serve --workers``)
        "webex_grpc_port": runtime.settings.webex.grpc_port,  # where a Webex caller finds the BYOVA service
    }


@router.get("/api/calls")
async def calls(request: Request, limit: int = 50) -> dict:
    limit = max(1, min(limit, 500))
    return {"calls": await runtime_of(request).services.session.store.recent(limit)}


@router.get("/api/calls/{call_id}")
async def call(request: Request, call_id: str) -> dict:
    record = await runtime_of(request).services.session.store.get(call_id)
    if record is None:
        raise HTTPException(404, f"no call {call_id}")
    return record.to_json()


@router.get("/api/metrics")
async def metrics(request: Request, since: float = 0.0) -> dict:
    """Timings: ``stt`` (transcribing a turn), ``tts_first_audio`` (a reply's first sentence),
    ``event_loop_lag`` (how late the loop that paces every call's audio wakes), ``turn_resumed_after``;
    counters (``calls_refused``, ``calls_handed_over_<reason>``) and the calls in progress."""
    runtime = runtime_of(request)
    return {
        "timings": runtime.services.timings.summary(since),
        "counters": runtime.services.session.counters.snapshot(),
        "active_calls": runtime.calls.in_progress,
    }


@router.get("/api/nodes")
async def nodes(request: Request) -> dict:
    """Every voicebot process up in the cluster (with ``events.url``; else this one), and its calls."""
    runtime = runtime_of(request)
    found = await runtime.nodes.nodes() if runtime.nodes is not None else [runtime.calls.status()]
    return {
        "calls_in_progress": sum(n.calls_in_progress for n in found),
        "max_calls": sum(n.max_calls for n in found if not n.draining),
        "nodes": [asdict(n) for n in found],
    }


@router.get("/api/outbox")
async def outbox(request: Request, status: Status | None = None, limit: int = 200) -> dict:
    """Post-call writes and screen pops not yet delivered (pending) or given up on (parked)."""
    box = runtime_of(request).services.session.outbox
    statuses: list[Status] = [status] if status else ["pending", "parked"]
    items = [item for s in statuses for item in await box.items(s, max(1, min(limit, 1000)))]
    return {"counts": await box.counts(), "items": [asdict(i) for i in items]}


@router.post("/api/outbox/{item_id}/retry")
async def retry(request: Request, item_id: int) -> dict:
    """Put a parked item back in line, once its cause is fixed (a ticket restored, a webhook repaired)."""
    if not await runtime_of(request).services.session.outbox.retry_parked(item_id):
        raise HTTPException(404, f"no parked outbox item {item_id}")
    return {"requeued": item_id}


@router.get("/api/lookup")
async def lookup(request: Request, ani: str = "") -> dict:
    """The caller by number, for flows that keep their own IVR (Webex Flow Designer's HTTP Request activity).

    Every field is always present (empty strings when unknown), so a JSONPath like ``$.case.number`` maps
    without a missing-path branch; ``found`` says whether the CRM knew the number.
    """
    runtime = runtime_of(request)
    settings = runtime.settings
    crm = runtime.services.session.crm
    caller = normalize_ani(ani, settings.telephony.default_region)
    context = await look_up_caller(crm, caller, settings.dialogue.crm_budget_secs)
    customer, case = context.customer, context.case
    reason = "caller_requested_agent" if case else ("no_open_case" if customer else "unknown_caller")
    target = transfer_target(settings.transfer, reason, case)
    return {
        "found": customer is not None,
        "ani": caller.e164 or caller.raw,
        "crm_status": context.crm_status,
        "customer": {"id": customer.id if customer else "", "name": customer.name if customer else ""},
        "case": {
            "id": case.id if case else "",
            "number": case.number if case else "",
            "title": case.title if case else "",
            "status": case.status if case else "",
            "priority": (case.priority or "") if case else "",
        },
        "screenpop_url": crm.case_url(case) if case else crm.new_case_url(customer, caller),
        "route": {"mode": target.mode, "target": target.target, "reason": reason},
    }
