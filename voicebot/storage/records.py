"""Call records, written as the call happens, and the protocol of the stores that keep them.

Every turn, intent, keypress and screen pop is stored the moment it occurs, so
a caller hanging up (or the server dying) loses nothing said so far. The store
is SQLite under ``data_dir`` by default (:mod:`voicebot.storage.sqlite.records`)
or PostgreSQL shared by several nodes (:mod:`voicebot.storage.postgres.records`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Outcome = Literal["transferred", "completed", "abandoned", "error"]
Role = Literal["caller", "bot"]


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class CallInfo:
    """The call as its platform names it."""

    id: str
    platform: str
    stream_id: str | None
    dialed: str | None
    started_at: str


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """Where a transferred caller was sent: what a platform asking after the call is told."""

    mode: Literal["dial", "enqueue"]
    target: str
    screen_pop_id: str
    action: Literal["open_case", "new_case_form"]

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> TransferRecord | None:
        return None if not data else cls(data["mode"], data["target"], data["screen_pop_id"], data["action"])


@dataclass(slots=True)
class Turn:
    role: Role
    text: str
    started_at: str
    ended_at: str | None = None
    latency_ms: float | None = None
    interrupted: bool = False


@dataclass(slots=True)
class CallEvent:
    kind: str
    at: str
    data: dict[str, Any]


@dataclass(slots=True)
class CallRecord:
    call_id: str
    platform: str
    stream_id: str | None
    ani_raw: str | None
    ani_e164: str | None
    dialed: str | None
    started_at: str
    node: str | None = None  # the server process that held the call
    ended_at: str | None = None
    customer: dict[str, Any] | None = None
    case: dict[str, Any] | None = None
    crm: dict[str, Any] | None = None
    outcome: Outcome | None = None
    outcome_reason: str | None = None
    transfer: TransferRecord | None = None
    turns: list[Turn] = field(default_factory=list)
    intents: list[dict[str, Any]] = field(default_factory=list)
    dtmf: list[dict[str, Any]] = field(default_factory=list)
    screen_pops: list[dict[str, Any]] = field(default_factory=list)
    events: list[CallEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallStore(Protocol):
    """Where call records live. Writes are shielded: a call's task cancelled mid-write still completes it."""

    async def start_call(
        self,
        call_id: str,
        platform: str,
        stream_id: str | None,
        ani_raw: str | None,
        ani_e164: str | None,
        dialed: str | None,
    ) -> None: ...

    async def set_caller(self, call_id: str, customer: dict | None, case: dict | None, crm: dict) -> None: ...

    async def add_turn(self, call_id: str, turn: Turn) -> int: ...

    async def update_turn(self, turn_id: int, **changes: Any) -> None:
        """Change ``text``, ``ended_at``, ``latency_ms`` or ``interrupted`` of a stored turn."""

    async def add_event(self, call_id: str, kind: str, data: dict[str, Any]) -> int: ...

    async def relabel_events(self, event_ids: list[int], kind: str) -> None:
        """Keep events but file them under another kind (an intent the caller's going on took back)."""

    async def finish(self, call_id: str, outcome: Outcome, reason: str, transfer: TransferRecord | None = None) -> bool:
        """Set the outcome once; a later finish (e.g. the socket closing after a transfer) is ignored."""

    async def get(self, call_id: str) -> CallRecord | None: ...

    async def orphans(self) -> list[CallRecord]:
        """Calls left without an outcome by a server process that died, now this process's to close."""

    async def purge(self, before: str) -> int:
        """Delete finished calls started before ``before`` (ISO time) with their turns and events; returns calls."""

    async def recent(self, limit: int = 50) -> list[dict[str, Any]]: ...

    async def aclose(self) -> None: ...


TURN_FIELDS = frozenset({"text", "ended_at", "latency_ms", "interrupted"})


def check_turn_changes(changes: dict[str, Any]) -> None:
    if not changes or not set(changes) <= TURN_FIELDS:
        raise ValueError(f"turn fields to update must be among {sorted(TURN_FIELDS)}")


def add_event_view(record: CallRecord, event: CallEvent) -> None:
    """File a stored event on the record: intents, keypresses and pops have their own lists."""
    views = {"intent": record.intents, "dtmf": record.dtmf, "screen_pop": record.screen_pops}
    if event.kind in views:
        views[event.kind].append({"at": event.at, **event.data})
    else:
        record.events.append(event)
