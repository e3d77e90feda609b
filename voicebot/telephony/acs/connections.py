"""The ACS calls this process answered: their connection ids, and each hand-off's targets in order.

A transfer's result comes later, as a callback: CallTransferAccepted (the bot's
leg then disconnects) or CallTransferFailed, on which the next target is tried,
and the call record says so. The last resort is ``acs.fallback_number``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from voicebot.config import AcsSettings, TransferSettings
from voicebot.storage.records import CallStore
from voicebot.telephony.acs.api import AcsAPIError, AcsCalls, Participant
from voicebot.telephony.acs.presence import FREE, GraphError, GraphPresence
from voicebot.telephony.acs.tokens import AcsTokenVerifier
from voicebot.tools.screen_pop import ScreenPop
from voicebot.tools.transfer import TransferTarget

log = logging.getLogger(__name__)


@dataclass
class Connection:
    """One answered call, keyed by its correlation id (the call record's id)."""

    call_id: str
    connection_id: str
    callback_uri: str
    targets: list[Participant] = field(default_factory=list)  # the hand-off's, in the order they are tried
    tried: int = 0
    voip_headers: dict[str, str] = field(default_factory=dict)
    transferred: bool = False
    agents: list[str] = field(default_factory=list)  # Available Teams agents after the chosen one, to try next
    queue: TransferTarget | None = None  # where transfer.* would have sent the caller: after the agents


def voip_headers(call_id: str, pop: ScreenPop | None) -> dict[str, str]:
    """What rides the transfer to a Teams user (``customCallingContext``): the pop's id and the case, for the agent."""
    headers = {"voicebotCallId": call_id}
    if pop is not None:
        headers["screenPopId"] = pop.id
        headers["screenPopUrl"] = pop.action.url[:1024]
        if pop.case is not None:
            headers["caseNumber"] = pop.case.number
        if pop.customer is not None:
            headers["customerName"] = pop.customer.name[:1024]
    return headers


def _short(object_id: str) -> str:
    return object_id[:8]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class AcsConnections:
    def __init__(
        self,
        calls: AcsCalls,
        settings: AcsSettings,
        transfer: TransferSettings,
        store: CallStore,
        verifier: AcsTokenVerifier | None,
        presence: GraphPresence | None = None,
    ):
        self.calls = calls
        self.settings = settings
        self.transfer_settings = transfer
        self.store = store
        self.verifier = verifier  # ACS's JWT on callbacks and the media upgrade; None: acs.resource_id is not set
        self.presence = presence  # Graph, when acs.teams_agents are configured
        self._open: dict[str, Connection] = {}
        self._turn = 0  # round robin among the Available agents

    async def choose(self, call_id: str, proposed: TransferTarget, reason: str) -> TransferTarget:
        """An Available Teams agent for this reason (round robin), else ``proposed`` (the queue), saying why.

        Graph gets ``acs.presence_budget_secs``: slow or failing, the caller goes to the queue, not into a wait.
        """
        agents = self.settings.teams_agents_by_reason.get(reason, self.settings.teams_agents)
        connection = self._open.get(call_id)
        if not agents or self.presence is None or connection is None:
            return proposed
        connection.queue = proposed
        try:
            async with asyncio.timeout(self.settings.presence_budget_secs):
                availability = await self.presence.availability(agents)
        except (TimeoutError, GraphError) as exc:
            why = "Graph presence did not answer in time" if isinstance(exc, TimeoutError) else str(exc)
            log.warning("acs call %s: %s; to the queue", call_id, why)
            return TransferTarget(proposed.mode, proposed.target, why=f"{why}; sent to the queue")
        free = [a for a in agents if availability[a] in FREE]
        others = ", ".join(f"{_short(a)} {availability[a]}" for a in agents if a not in free)
        if not free:
            return TransferTarget(proposed.mode, proposed.target, why=f"no Teams agent Available ({others}); queue")
        start = self._turn % len(free)
        self._turn += 1
        ordered = free[start:] + free[:start]
        connection.agents = ordered[1:]
        why = f"Teams agent {_short(ordered[0])} is {availability[ordered[0]]}" + (f"; {others}" if others else "")
        return TransferTarget("dial", f"8:orgid:{ordered[0]}", why=why)

    async def on_event(self, call_id: str, event: dict[str, Any]) -> None:
        """One callback CloudEvent: recorded on the call; a failed transfer moves on to the next target."""
        kind = str(event.get("type", "")).removeprefix("Microsoft.Communication.")
        data: dict[str, Any] = event["data"] if isinstance(event.get("data"), dict) else {}
        result: dict[str, Any] = data["resultInformation"] if isinstance(data.get("resultInformation"), dict) else {}
        connection = self._open.get(call_id)
        if connection is None:
            log.info("acs: %s for call %s, which this process does not hold", kind, call_id)
            return
        details = {k: result.get(k) for k in ("code", "subCode", "message") if result.get(k) is not None}
        await self.store.add_event(call_id, f"acs_{_snake(kind)}", details)
        if kind == "CallConnected" and data.get("callConnectionId"):
            connection.connection_id = str(data["callConnectionId"])
        elif kind == "CallTransferAccepted":
            connection.transferred = True
        elif kind == "CallTransferFailed" and not connection.transferred:
            await self.try_next(connection)
        elif kind == "CallDisconnected":
            self.ended(call_id)

    def answered(self, call_id: str, connection_id: str, callback_uri: str) -> None:
        self._open[call_id] = Connection(call_id, connection_id, callback_uri)

    def get(self, call_id: str) -> Connection | None:
        return self._open.get(call_id)

    def ended(self, call_id: str) -> None:
        self._open.pop(call_id, None)

    def targets(self, target: TransferTarget, connection: Connection | None = None) -> list[Participant]:
        """Where the hand-off goes, in order: the chosen target, the other Available agents, the queue
        ``transfer.*`` named (a name through ``acs.queues``), then ``acs.fallback_number``."""
        written = [target.target]
        if connection is not None:
            written += [f"8:orgid:{a}" for a in connection.agents]
            written += [connection.queue.target] if connection.queue is not None else []
        written.append(self.settings.fallback_number or "")
        ordered: list[Participant] = []
        for text in written:
            if not text:
                continue
            participant = Participant.parse(self.settings.queues.get(text, text))
            if participant is None:
                log.error("acs: transfer target %r is neither a number nor a Teams user (map it in acs.queues)", text)
            elif participant not in ordered:
                ordered.append(participant)
        return ordered

    async def hand_over(self, call_id: str, target: TransferTarget, pop: ScreenPop | None, dialed: str) -> None:
        """The call goes to ``target`` (``PlatformCalls``, as RESTCallControl asks), then to the fallback."""
        connection = self._open.get(call_id)
        if connection is None:
            raise AcsAPIError(f"acs: call {call_id} has no connection to transfer")
        connection.targets, connection.tried = self.targets(target, connection), 0
        connection.voip_headers = voip_headers(call_id, pop)
        await self.try_next(connection)

    async def try_next(self, connection: Connection) -> None:
        """Transfer to the next target not yet tried; one that refuses at once is recorded and skipped."""
        while connection.tried < len(connection.targets):
            target = connection.targets[connection.tried]
            connection.tried += 1
            try:
                await self.calls.transfer(
                    connection.connection_id,
                    target,
                    f"voicebot-transfer-{connection.tried}",
                    connection.callback_uri,
                    connection.voip_headers,
                )
            except AcsAPIError as exc:
                log.error("acs call %s: transfer to %s refused: %s", connection.call_id, target.kind, exc)
                await self.store.add_event(
                    connection.call_id, "transfer_failed", {"target": target.raw_id, "error": str(exc)}
                )
                continue
            await self.store.add_event(connection.call_id, "transfer_requested", {"target": target.raw_id})
            return
        log.error("acs call %s: every transfer target failed; the call is ended", connection.call_id)
        await self.store.add_event(connection.call_id, "transfer_exhausted", {"tried": connection.tried})
        await self.calls.terminate(connection.connection_id)

    async def hang_up(self, call_id: str) -> None:
        connection = self._open.get(call_id)
        if connection is not None:
            await self.calls.terminate(connection.connection_id)

    async def aclose(self) -> None:
        await self.calls.aclose()
        if self.presence is not None:
            await self.presence.aclose()
        if self.verifier is not None:
            await self.verifier.aclose()
