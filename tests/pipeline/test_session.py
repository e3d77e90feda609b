"""A call's bookkeeping, without speech: the look-up, the record, the screen pop, the transfer and the note.

Real parts throughout: the SQLite call store, the embedded CRM with its demo
data, the outbox (not started, so what it would deliver stays to be read), the
live event feed and the keyword router.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from voicebot.dialogue import Handoff
from voicebot.pipeline.services import SessionServices
from voicebot.pipeline.session import new_turn
from voicebot.tools.transfer import TransferTarget, handover_for

SCHEMA = json.loads((Path(__file__).parents[2] / "voicebot/schemas/screen_pop.v1.json").read_text())


async def queued(services: SessionServices, kind: str) -> list[dict]:
    return [item.payload for item in await services.outbox.items("pending") if item.kind == kind]


async def test_a_known_caller_is_looked_up_and_recorded_with_the_case(services, new_session):
    shared = services()
    session = new_session(shared)
    await session.begin()
    flow = await session.start_flow()
    assert flow.context.customer.name == "Jane Doe" and flow.context.case.number == "CAS-01234"
    record = await shared.store.get("CA1")
    assert record.customer["name"] == "Jane Doe" and record.case["number"] == "CAS-01234"
    assert shared.events.snapshot()[0]["state"] == "talking"


async def test_a_transfer_sends_a_valid_pop_and_records_where_the_caller_went(services, new_session):
    shared = services()
    session = new_session(shared)
    await session.begin()
    await session.start_flow()
    await session.add_turn(new_turn("caller", "agent please"))
    pop = await session.transfer(Handoff("caller_requested_agent", "open_case"))

    jsonschema.validate(pop.to_json(), SCHEMA)
    assert pop.case is not None and pop.case.number == "CAS-01234" and pop.action.type == "open_case"
    assert await queued(shared, "screen_pop") == [pop.to_json()]
    record = await shared.store.get("CA1")
    assert record.outcome == "transferred" and record.screen_pops[0]["payload"]["id"] == pop.id
    assert record.transfer == session.transfer_record and record.transfer.screen_pop_id == pop.id
    # What a platform asking after the call (Twilio's after-stream, Exotel's dial-whom) is told.
    assert await handover_for(shared.store, "CA1", shared.settings.transfer) == TransferTarget("enqueue", "support")


async def test_without_a_webhook_the_pop_is_recorded_but_not_queued_for_delivery(services, new_session):
    shared = services(pops_webhook=False)
    session = new_session(shared)
    await session.begin()
    await session.start_flow()
    await session.transfer(Handoff("caller_requested_agent", "open_case"))
    assert await queued(shared, "screen_pop") == []
    assert (await shared.store.get("CA1")).screen_pops


async def test_the_outcome_is_recorded_once_and_the_note_written_once(services, new_session):
    shared = services()
    session = new_session(shared)
    await session.begin()
    await session.start_flow()
    await session.transfer(Handoff("caller_requested_agent", "open_case"))
    await session.abandon("stream_closed")  # the socket closing after the transfer
    record = await shared.store.get("CA1")
    assert (record.outcome, record.outcome_reason) == ("transferred", "caller_requested_agent")
    notes = await queued(shared, "crm_note")
    assert len(notes) == 1
    assert notes[0]["customer_id"] == "cust-jane" and notes[0]["case_id"] == record.case["id"]
    assert "Transcript:" in notes[0]["body"] and not notes[0]["create_case"]


async def test_a_caller_who_hangs_up_before_the_look_up_ends_still_gets_a_note(services, new_session):
    shared = services()
    session = new_session(shared, caller="+14155550000")
    await session.begin()
    await session.abandon()
    notes = await queued(shared, "crm_note")
    assert len(notes) == 1 and "abandoned" in notes[0]["subject"]
    assert notes[0]["caller"] == "+14155550000" and notes[0]["customer_id"] is None
