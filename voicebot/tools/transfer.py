"""Agent transfer: where a caller goes. How each platform is told to send them there lives in its package."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from voicebot.config import TransferSettings
from voicebot.storage.records import CallStore, TransferRecord
from voicebot.tools.crm.base import Case


@dataclass(frozen=True, slots=True)
class TransferTarget:
    mode: Literal["dial", "enqueue"]
    target: str
    why: str = ""  # how the target was chosen, when a platform chose it (an agent by presence), for the pop


def transfer_target(settings: TransferSettings, reason: str, case: Case | None = None) -> TransferTarget:
    """Where this caller goes: high-priority cases first, then the route for the reason, then the default."""
    default = settings.agent_number if settings.mode == "dial" else settings.queue
    target = settings.routes.get(reason, default)
    priority = (case.priority or "").lower() if case else ""
    if settings.priority_target and priority in {p.lower() for p in settings.priority_values}:
        target = settings.priority_target
    return TransferTarget(settings.mode, target)


def after_stream_target(
    outcome: str | None, transfer: TransferRecord | None, settings: TransferSettings
) -> TransferTarget | None:
    """Where a caller goes once the bot has let go of the call; None means hang up.

    A call the bot did not finish (no record, a dropped stream, an error) goes to
    an agent: a caller is never left in silence or cut off by a fault of ours.
    """
    if outcome in ("completed", "abandoned"):
        return None
    mode = transfer.mode if transfer else settings.mode
    target = (transfer.target if transfer else "") or (settings.agent_number if mode == "dial" else settings.queue)
    return TransferTarget(mode, target)


async def handover_for(store: CallStore, call_id: str, settings: TransferSettings) -> TransferTarget | None:
    """:func:`after_stream_target` for a call the platform names by id (unknown ids go to an agent)."""
    record = await store.get(call_id) if call_id else None
    return after_stream_target(record.outcome if record else None, record.transfer if record else None, settings)
