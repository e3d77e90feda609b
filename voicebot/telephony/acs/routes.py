"""ACS's webhooks: Event Grid's incoming calls (answered onto ``/acs/media``) and Call Automation's callbacks.

Event Grid authenticates by the secret in the subscription's URL (``?code=``,
``acs.incoming_secret``); it validates a new subscription with a
``SubscriptionValidationEvent`` (Event Grid schema) or an ``OPTIONS`` request
(CloudEvents schema). Callbacks carry ACS's JWT (``acs.resource_id`` is its
audience) and the call's own token in the URL voicebot gave when answering.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from voicebot.server.access import allowed, media_allowed, stream_parameters
from voicebot.server.routes.public import public_url, ws_url
from voicebot.server.state import runtime_of
from voicebot.telephony.acs.api import AcsAPIError
from voicebot.telephony.acs.tokens import InvalidToken
from voicebot.tools.transfer import transfer_target

log = logging.getLogger(__name__)
router = APIRouter(prefix="/acs")

NOT_CONFIGURED = "acs.endpoint and acs.access_key (or acs.connection_string) are not set: ACS calls cannot be answered"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"


def phone_number(identifier: Any) -> str:
    """A caller's number from a CommunicationIdentifierModel: ``rawId`` ``4:+1...``, else ``phoneNumber.value``."""
    if not isinstance(identifier, dict):
        return ""
    raw = str(identifier.get("rawId") or "")
    if raw.startswith("4:"):
        return raw[2:].split("_", 1)[0]  # an asserted id may carry a suffix
    number = identifier.get("phoneNumber")
    return str(number.get("value") or "") if isinstance(number, dict) else ""


@router.options("/incoming")
async def validate_cloudevents(request: Request) -> Response:
    """CloudEvents' abuse protection: the webhook says which origin may deliver to it."""
    origin = request.headers.get("webhook-request-origin", "*")
    return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin, "Allow": "POST"})


@router.post("/incoming")
async def incoming(request: Request) -> Response:
    runtime = runtime_of(request)
    settings = runtime.settings.acs
    client = request.client.host if request.client else None
    if not allowed(settings.incoming_secret, request.query_params.get("code", ""), client, request.headers):
        log.warning("acs: refused an Event Grid delivery without the subscription's secret (acs.incoming_secret)")
        return Response("unauthorised", status_code=401)
    try:
        events = await request.json()
    except ValueError:
        return Response("expected a JSON array of events", status_code=400)
    if isinstance(events, dict):
        events = [events]  # CloudEvents' single-event mode
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return Response("expected a JSON array of events", status_code=400)
    for event in events:
        kind = event.get("eventType") or event.get("type")
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        if kind == VALIDATION:
            return JSONResponse({"validationResponse": data.get("validationCode", "")})
        if kind != INCOMING_CALL:
            continue
        if runtime.acs is None:
            log.error(NOT_CONFIGURED)
            return Response(NOT_CONFIGURED, status_code=503)
        if (problem := await _answer(request, data)) is not None:
            return problem
    return Response(status_code=200)


async def _answer(request: Request, data: dict[str, Any]) -> Response | None:
    runtime = runtime_of(request)
    acs = runtime.acs
    assert acs is not None
    call_id = str(data.get("correlationId") or "")
    context = data.get("incomingCallContext")
    if not call_id or not isinstance(context, str):
        return Response("IncomingCall without correlationId or incomingCallContext", status_code=400)
    if (why := runtime.calls.refusal()) is not None:
        # Answered, it would meet a media stream refused at capacity: it goes to an agent unanswered instead.
        runtime.calls.refuse("acs", call_id, why)
        targets = acs.targets(transfer_target(runtime.settings.transfer, "over_capacity"))
        try:
            if targets:
                await acs.calls.redirect(context, targets[0])
        except AcsAPIError as exc:
            log.error("acs: could not redirect call %s: %s", call_id, exc)
            return Response(status_code=502)
        return None
    caller, dialed = phone_number(data.get("from")), phone_number(data.get("to"))
    token = stream_parameters(runtime.settings.access.media_secret, call_id)
    base = public_url(request)
    media = ws_url(base) + "/acs/media?" + urlencode({"call": call_id, "from": caller, "to": dialed, **token})
    callbacks = base + "/acs/callbacks?" + urlencode({"call": call_id, **token})
    try:
        answered = await acs.calls.answer(context, callbacks, media)
    except AcsAPIError as exc:
        log.error("acs: could not answer call %s: %s", call_id, exc)
        return Response(status_code=502)
    acs.answered(call_id, answered.call_connection_id, callbacks)
    log.info("acs: answered call %s onto the media stream", call_id)
    return None


@router.post("/callbacks")
async def callbacks(request: Request) -> Response:
    runtime = runtime_of(request)
    acs = runtime.acs
    call_id = request.query_params.get("call", "")
    client = request.client.host if request.client else None
    token = request.query_params.get("token", "")
    if acs is None or not media_allowed(runtime.settings.access.media_secret, call_id, token, client, request.headers):
        return Response("unauthorised", status_code=401)
    if acs.verifier is not None:
        try:
            await acs.verifier.verify(request.headers.get("authorization"))
        except InvalidToken as exc:
            log.warning("acs call %s: refused a callback: %s", call_id, exc)
            return Response("unauthorised", status_code=401)
    try:
        events = await request.json()
    except ValueError:
        return Response("expected a JSON array of CloudEvents", status_code=400)
    for event in events if isinstance(events, list) else [events]:
        if isinstance(event, dict):
            await acs.on_event(call_id, event)
    return Response(status_code=204)
