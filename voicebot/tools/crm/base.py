"""The CRM interface every backend implements, and the records it returns.

A backend is chosen by ``crm.backend`` in the configuration (see
:func:`open_crm`); the dialogue and the tools only ever see this protocol.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from voicebot.tools.ani import CallerNumber

if TYPE_CHECKING:
    from voicebot.config import Settings
    from voicebot.storage.records import Turn


class CRMError(Exception):
    """The CRM could not answer (unreachable, failing, or answered nonsense)."""


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    first_name: str
    email: str | None = None
    phones: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    number: str
    title: str
    status: str
    customer_id: str
    created_at: datetime
    updated_at: datetime
    is_open: bool = True
    priority: str | None = None
    kind: str = "case"  # what the CRM calls it: "case" (Dynamics, local) or "ticket" (Zendesk)


@dataclass(frozen=True, slots=True)
class CustomerMatch:
    """The customer found for a number; ``ambiguous`` when several matched."""

    customer: Customer
    candidates: int = 1

    @property
    def ambiguous(self) -> bool:
        return self.candidates > 1


@dataclass(frozen=True, slots=True)
class CallNote:
    """What the bot writes back to the CRM after a call.

    With no ``case_id`` and ``create_case`` set, the backend opens a case (a
    ticket) for the caller instead, where it supports that.
    """

    call_id: str
    subject: str
    body: str
    customer_id: str | None = None
    case_id: str | None = None
    caller: str | None = None  # E.164, for a case opened for an unknown caller
    customer_name: str | None = None
    create_case: bool = False
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def note_body(call_id: str, started_at: str, outcome: str, reason: str, about: list[str], turns: list[Turn]) -> str:
    """The note's text: what happened, ``about`` it (a summary, an explanation), then the transcript."""
    head = f"Voice bot call {call_id} at {started_at}: {outcome} ({reason.replace('_', ' ')})."
    return "\n".join([head, *about, "", "Transcript:", *(f"{t.role}: {t.text}" for t in turns)])


class CRM(Protocol):
    """A customer-relationship system the bot looks callers up in."""

    name: str

    async def find_customer(self, caller: CallerNumber) -> CustomerMatch | None: ...

    async def latest_case(self, customer: Customer) -> Case | None:
        """The customer's most relevant case: newest open one, else None."""
        ...

    async def add_note(self, note: CallNote) -> None: ...

    def case_url(self, case: Case) -> str:
        """Where an agent opens this case."""
        ...

    def customer_url(self, customer: Customer) -> str:
        """Where an agent opens this customer's record."""
        ...

    def new_case_url(self, customer: Customer | None, caller: CallerNumber) -> str:
        """A new-case form pre-filled with the customer (or just the number)."""
        ...

    async def close(self) -> None: ...


# Backends by name, imported only when chosen: a deployment on Zendesk need not
# import Dynamics code. Each entry is "module:factory"; a factory takes
# (settings, public_url) and returns a CRM.
BACKENDS: dict[str, str] = {
    "local": "voicebot.tools.crm.local:open_local_crm",
    "dynamics": "voicebot.tools.crm.dynamics:open_dynamics_crm",
    "zendesk": "voicebot.tools.crm.zendesk:open_zendesk_crm",
}


def open_crm(settings: Settings, public_url: str) -> CRM:
    """The backend named by ``crm.backend``; ``public_url`` is where our own pages live."""
    try:
        target = BACKENDS[settings.crm.backend]
    except KeyError:
        raise ValueError(f"crm.backend = {settings.crm.backend!r} is not one of {sorted(BACKENDS)}") from None
    module, factory = target.split(":")
    return getattr(importlib.import_module(module), factory)(settings, public_url)
