"""Any CRM back end, with every request timed and every failure counted for ``/metrics``.

A wrapper rather than code in each back end: the local SQLite CRM, Dynamics and
Zendesk are measured the same way, and a new back end is measured without
knowing about Prometheus.
"""

from __future__ import annotations

from voicebot.server.prometheus import Metrics
from voicebot.tools.ani import CallerNumber
from voicebot.tools.crm.base import CRM, CallNote, Case, Customer, CustomerMatch


class MeasuredCRM:
    def __init__(self, crm: CRM, metrics: Metrics):
        self.inner = crm
        self.name = crm.name
        self._metrics = metrics

    async def find_customer(self, caller: CallerNumber) -> CustomerMatch | None:
        return await self._metrics.crm(self.name, "find_customer", lambda: self.inner.find_customer(caller))

    async def latest_case(self, customer: Customer) -> Case | None:
        return await self._metrics.crm(self.name, "latest_case", lambda: self.inner.latest_case(customer))

    async def add_note(self, note: CallNote) -> None:
        await self._metrics.crm(self.name, "add_note", lambda: self.inner.add_note(note))

    def case_url(self, case: Case) -> str:
        return self.inner.case_url(case)

    def customer_url(self, customer: Customer) -> str:
        return self.inner.customer_url(customer)

    def new_case_url(self, customer: Customer | None, caller: CallerNumber) -> str:
        return self.inner.new_case_url(customer, caller)

    async def close(self) -> None:
        await self.inner.close()
