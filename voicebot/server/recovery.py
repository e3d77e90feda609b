"""What a server killed mid-call leaves behind, put right at the next start.

Turns are written as they happen, so a killed process loses no words; but its
calls in progress are left without an outcome, and their post-call notes were
never queued. Before any new call is taken, each such call is closed as
``error`` / ``server_stopped`` and its note (with the transcript up to the last
turn) goes into the outbox, which also resumes what was already queued.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from voicebot.config import Settings
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallRecord, CallStore
from voicebot.tools.crm.base import CallNote, note_body

log = logging.getLogger(__name__)

REASON = "server_stopped"


async def close_interrupted_calls(store: CallStore, outbox: Outbox) -> int:
    """Run only while no call is in progress (at start-up, before serving); returns how many were closed."""
    closed = 0
    for record in await store.unfinished():
        # The note first: killed again in between, the next start notes the call twice rather than never.
        await outbox.enqueue("crm_note", asdict(interrupted_note(record)))
        await store.finish(record.call_id, "error", REASON)
        closed += 1
    if closed:
        log.warning("%d call(s) were cut off when the server stopped; closed and noted", closed)
    return closed


async def recover_data_dir(settings: Settings) -> int:
    """The same, on the data directory itself: for ``serve --workers``, whose parent runs no calls."""
    store, outbox = CallStore(settings.calls_path), Outbox(settings.outbox_path, {}, kinds=("crm_note",))
    try:
        return await close_interrupted_calls(store, outbox)
    finally:
        store.close()
        await outbox.aclose()


def interrupted_note(record: CallRecord) -> CallNote:
    customer, case = record.customer or {}, record.case or {}
    about = ["The voice bot's server stopped during this call; the transcript runs up to that moment."]
    return CallNote(
        call_id=record.call_id,
        subject="Voice bot call: error",
        body=note_body(record.call_id, record.started_at, "error", REASON, about, record.turns),
        customer_id=customer.get("id"),
        case_id=case.get("id"),
        caller=record.ani_e164,
        customer_name=customer.get("name"),
    )
