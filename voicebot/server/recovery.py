"""What a server killed mid-call leaves behind, put right by the next start or by a surviving node.

Turns are written as they happen, so a killed process loses no words; but its
calls in progress are left without an outcome, and their post-call notes were
never queued. Each such call is closed as ``error`` / ``server_stopped`` and its
note (with the transcript up to the last turn) goes into the outbox, which also
resumes what was already queued. On SQLite this happens at start-up, before any
new call is taken; on a shared store (``store.url``) every node keeps looking,
and closes the calls of any node whose lease has run out.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict

from voicebot.config import Settings
from voicebot.server.calls import node_name
from voicebot.storage.backends import NodeLeases, open_storage
from voicebot.storage.outbox import Outbox
from voicebot.storage.records import CallRecord, CallStore
from voicebot.tools.crm.base import CallNote, note_body

log = logging.getLogger(__name__)

REASON = "server_stopped"


async def close_interrupted_calls(store: CallStore, outbox: Outbox) -> int:
    """Close the store's orphans (see :meth:`CallStore.orphans` for when a call is one); returns how many."""
    closed = 0
    for record in await store.orphans():
        # The note first: killed again in between, the next start notes the call twice rather than never.
        await outbox.enqueue("crm_note", asdict(interrupted_note(record)))
        await store.finish(record.call_id, "error", REASON)
        closed += 1
    if closed:
        log.warning("%d call(s) were cut off when the server stopped; closed and noted", closed)
    return closed


async def keep_recovering(leases: NodeLeases, store: CallStore, outbox: Outbox) -> None:
    """On a shared store: renew this node's lease, and close the calls of nodes whose lease ran out, until cancelled."""
    while True:
        try:
            await leases.renew()
            await close_interrupted_calls(store, outbox)
        except Exception as exc:  # the database is away: calls go on; the lease and the sweep resume when it is back
            log.warning("node lease or recovery sweep failed (%s: %s); retrying", type(exc).__name__, exc)
        await asyncio.sleep(leases.beat_secs)


async def recover_data_dir(settings: Settings) -> int:
    """The same, on the store itself: for ``serve --workers``, whose parent runs no calls."""
    storage = open_storage(settings, node_name())
    outbox = Outbox(storage.outbox, {}, kinds=("crm_note",))
    try:
        return await close_interrupted_calls(storage.calls, outbox)
    finally:
        await storage.aclose()
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
