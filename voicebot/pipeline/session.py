"""One call's bookkeeping: the CRM look-up, the call record, the outcome and its screen pop.

The pipeline's conversation processor drives a session; the session owns what
must survive the call (every turn in the call record, the screen pop, the note
written back to the CRM) and makes sure an outcome is recorded exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from voicebot.dialogue import CallFlow, Handoff
from voicebot.intents import IntentMatch
from voicebot.pipeline.services import SessionServices
from voicebot.storage.records import CallInfo, CallStore, Outcome, TransferRecord, Turn, utcnow
from voicebot.tools.ani import CallerNumber
from voicebot.tools.crm.base import CallNote, note_body
from voicebot.tools.lookup import CallerContext, look_up_caller, refresh_case
from voicebot.tools.screen_pop import ScreenPop, build_screen_pop, case_json, customer_json, summarize
from voicebot.tools.transfer import TransferTarget, transfer_target

log = logging.getLogger(__name__)

ChooseTarget = Callable[[TransferTarget, str], Awaitable[TransferTarget]]


class CallSession:
    def __init__(self, services: SessionServices, call: CallInfo, caller: CallerNumber):
        self.services = services
        self.call = call
        self.caller = caller
        self.flow: CallFlow | None = None
        self.transcript: list[Turn] = []
        self._turns: dict[int, Turn] = {}  # record row -> turn, for revising one
        self.intent_events: list[int] = []  # record rows of the intents, in order
        self.intents: list[str] = []
        self.outcome: Outcome | None = None
        self.transfer_record: TransferRecord | None = None
        self._lookup: asyncio.Task[CallerContext] | None = None
        self.started = time.perf_counter()

    @property
    def store(self) -> CallStore:
        return self.services.store

    async def begin(self) -> None:
        """Record the call and start the CRM look-up at once, before anything else."""
        settings = self.services.settings
        self.started = time.perf_counter()
        self._lookup = asyncio.create_task(
            look_up_caller(self.services.crm, self.caller, settings.dialogue.crm_budget_secs)
        )
        await self.store.start_call(
            self.call.id,
            self.call.platform,
            self.call.stream_id,
            self.caller.raw,
            self.caller.e164,
            self.call.dialed,
        )
        log.info("call %s from %s started on %s", self.call.id, self.caller.masked, self.call.platform)
        self.services.events.publish(
            "call_started",
            self.call.id,
            platform=self.call.platform,
            caller=self.caller.e164 or self.caller.raw,
            started_at=self.call.started_at,
            state="identifying",
        )

    async def start_flow(self) -> CallFlow:
        assert self._lookup is not None, "begin() first"
        context = await self._lookup
        crm = self.services.crm
        await self.store.set_caller(
            self.call.id,
            customer_json(context.customer),
            case_json(context.case, crm),
            {
                "backend": crm.name,
                "status": context.crm_status,
                "error": context.crm_error,
                "candidates": context.candidates,
                "lookup_ms": context.lookup_ms,
            },
        )
        self.services.events.publish(
            "caller_identified",
            self.call.id,
            customer=customer_json(context.customer, crm),
            case=case_json(context.case, crm),
            crm_status=context.crm_status,
            state="talking",
        )
        budget = self.services.settings.dialogue.crm_budget_secs
        self.flow = CallFlow(
            context,
            self.services.router,
            self.services.settings.dialogue,
            refresh_case=lambda: refresh_case(crm, context, budget),
        )
        return self.flow

    async def add_turn(self, turn: Turn) -> int:
        self.transcript.append(turn)
        self.services.events.publish("turn", self.call.id, role=turn.role, text=turn.text, at=turn.started_at)
        turn_id = await self.store.add_turn(self.call.id, turn)
        self._turns[turn_id] = turn
        return turn_id

    async def revise_turn(self, turn_id: int, text: str, ended_at: str | None) -> None:
        """A caller turn heard again in full: they went on after the bot had begun to answer its first part."""
        turn = self._turns[turn_id]
        turn.text, turn.ended_at = text, ended_at
        self.services.events.publish("turn", self.call.id, role=turn.role, text=text, at=turn.started_at)
        await self.store.update_turn(turn_id, text=text, ended_at=ended_at)

    async def update_turn(self, turn_id: int, **changes: Any) -> None:
        await self.store.update_turn(turn_id, **changes)

    async def record_intent(self, match: IntentMatch, branch: str | None = None) -> None:
        """What the caller meant and what the dialogue did about it ("act", "confirm", "out_of_scope", ...)."""
        if match.intent:
            self.intents.append(match.intent)
        event_id = await self.store.add_event(
            self.call.id,
            "intent",
            {
                "intent": match.intent,
                "confidence": match.confidence,
                "source": match.source,
                "heard": match.heard,
                "best": match.best,
                "branch": branch,
            },
        )
        self.intent_events.append(event_id)

    async def withdraw_intents(self, intents: int, events: int) -> None:
        """Intents recorded for an answer taken back: out of the call's intents, kept among its events."""
        del self.intents[intents:]
        taken_back, self.intent_events = self.intent_events[events:], self.intent_events[:events]
        await self.store.relabel_events(taken_back, "intent_taken_back")

    async def record_dtmf(self, digit: str) -> None:
        await self.store.add_event(self.call.id, "dtmf", {"digit": digit})

    async def record_event(self, kind: str, **data: Any) -> None:
        await self.store.add_event(self.call.id, kind, data)

    async def transfer(self, handoff: Handoff, choose: ChooseTarget | None = None) -> ScreenPop:
        """Send the screen pop and record the transfer; the call control then tells the platform.

        ``choose`` is the platform's say in the target (an agent picked by presence), before the pop names it.
        """
        assert self.flow is not None
        target = transfer_target(self.services.settings.transfer, handoff.reason, self.flow.context.case)
        if choose is not None:
            target = await choose(target, handoff.reason)
        pop = build_screen_pop(
            call=self.call,
            context=self.flow.context,
            crm=self.services.crm,
            reason=handoff.reason,
            action=handoff.action,
            transfer=target,
            transcript=self.transcript,
            intents=self.intents,
        )
        payload = pop.to_json()
        await self.store.add_event(self.call.id, "screen_pop", {"payload": payload})
        self.services.events.publish("screen_pop", self.call.id, pop=payload, state="transferring")
        if self.services.pops_webhook:
            await self.services.outbox.post("screen_pop", payload)
        transfer = TransferRecord(target.mode, target.target, pop.id, pop.action.type)
        self.transfer_record = transfer
        await self._finish("transferred", handoff.reason, transfer)
        return pop

    async def complete(self) -> None:
        await self._finish("completed", "caller_done")

    async def abandon(self, reason: str = "caller_hung_up") -> None:
        await self._finish("abandoned", reason)

    async def fail(self, reason: str) -> None:
        await self._finish("error", reason)

    async def _finish(self, outcome: Outcome, reason: str, transfer: TransferRecord | None = None) -> None:
        if self.outcome is not None:
            return
        self.outcome = outcome
        if self._lookup is not None and not self._lookup.done():
            self._lookup.cancel()
        await self.store.finish(self.call.id, outcome, reason, transfer)
        self.services.metrics.calls.labels(self.call.platform, outcome).inc()
        if outcome == "transferred":
            self.services.metrics.handoffs.labels(reason).inc()
        log.info("call %s ended: %s (%s)", self.call.id, outcome, reason)
        self.services.events.publish("call_ended", self.call.id, state="ended", outcome=outcome, reason=reason)
        await self.services.outbox.post("crm_note", asdict(self._note(outcome, reason)))

    def _note(self, outcome: Outcome, reason: str) -> CallNote:
        """The post-call note: outcome, summary and transcript, on the caller's case."""
        context = self.flow.context if self.flow else None
        customer = context.customer if context else None
        case = context.case if context else None
        about = [summarize(context, reason, self.transcript, self.intents)] if context is not None else []
        return CallNote(
            call_id=self.call.id,
            subject=f"Voice bot call: {outcome}",
            body=note_body(self.call.id, self.call.started_at, outcome, reason, about, self.transcript),
            customer_id=customer.id if customer else None,
            case_id=case.id if case else None,
            caller=self.caller.e164,
            customer_name=customer.name if customer else None,
            create_case=outcome == "transferred" and case is None,
        )


def new_turn(role: str, text: str, started_at: str | None = None) -> Turn:
    return Turn(role=role, text=text, started_at=started_at or utcnow())  # type: ignore[arg-type]
