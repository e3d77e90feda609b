"""CRM tools the dialogue calls: plain async functions with typed inputs and outputs.

They hold the time budget (a caller must never wait on a slow CRM) and turn CRM
failures into a result the dialogue can speak about, never an exception. A
later LLM router can expose these same functions as tools.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Literal

from voicebot.tools.ani import CallerNumber
from voicebot.tools.crm.base import CRM, Case, Customer
from voicebot.tools.crm.http import deadline

log = logging.getLogger(__name__)

CRMStatus = Literal["ok", "unavailable", "skipped"]


@dataclass(frozen=True, slots=True)
class CallerContext:
    """Who is calling, as far as the CRM could tell within the budget."""

    caller: CallerNumber
    customer: Customer | None = None
    case: Case | None = None
    candidates: int = 0
    crm_status: CRMStatus = "ok"
    crm_error: str | None = None
    lookup_ms: float = 0.0

    @property
    def ambiguous(self) -> bool:
        return self.candidates > 1


async def look_up_caller(crm: CRM, caller: CallerNumber, budget_secs: float) -> CallerContext:
    """Find the caller and their latest open case, within ``budget_secs`` in all."""
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    if not caller.is_known:
        return CallerContext(caller, crm_status="skipped", lookup_ms=elapsed())
    token = deadline.set(time.monotonic() + budget_secs)
    try:
        async with asyncio.timeout(budget_secs):
            match = await crm.find_customer(caller)
            if match is None:
                return CallerContext(caller, lookup_ms=elapsed())
            case = await crm.latest_case(match.customer)
    except TimeoutError:
        log.warning("CRM %s look-up for %s exceeded %.1fs", crm.name, caller.masked, budget_secs)
        return CallerContext(
            caller, crm_status="unavailable", crm_error=f"timed out after {budget_secs:g}s", lookup_ms=elapsed()
        )
    except Exception as exc:  # any failure of the CRM must not reach the caller
        log.warning("CRM %s look-up for %s failed: %s", crm.name, caller.masked, type(exc).__name__)
        return CallerContext(
            caller, crm_status="unavailable", crm_error=f"{type(exc).__name__}: {exc}", lookup_ms=elapsed()
        )
    finally:
        deadline.reset(token)
    return CallerContext(caller, match.customer, case, match.candidates, lookup_ms=elapsed())


async def refresh_case(crm: CRM, context: CallerContext, budget_secs: float) -> Case | None:
    """The caller's latest case as the CRM has it now; the known one if the CRM is slow."""
    if context.customer is None:
        return context.case
    token = deadline.set(time.monotonic() + budget_secs)
    try:
        async with asyncio.timeout(budget_secs):
            return await crm.latest_case(context.customer)
    except Exception as exc:
        log.warning("CRM %s case refresh failed: %s", crm.name, type(exc).__name__)
        return context.case
    finally:
        deadline.reset(token)
