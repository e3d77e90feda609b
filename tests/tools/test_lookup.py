"""The caller look-up never keeps a caller waiting on the CRM, and never raises."""

import asyncio

import pytest

from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.local import LocalCRM
from voicebot.tools.lookup import look_up_caller, refresh_case


class SlowCRM(LocalCRM):
    """The real embedded CRM behind a slow network: every answer takes ``delay`` seconds."""

    def __init__(self, path, delay: float):
        super().__init__(path)
        self.delay = delay

    async def find_customer(self, caller):
        await asyncio.sleep(self.delay)
        return await super().find_customer(caller)


class BrokenCRM(LocalCRM):
    """The embedded CRM with its database gone: what a CRM outage looks like from here."""

    async def find_customer(self, caller):
        self.path.unlink()
        raise ConnectionError("CRM unreachable")


@pytest.fixture
def crm(tmp_path):
    crm = LocalCRM(tmp_path / "crm.sqlite3")
    crm.seed_demo()
    return crm


async def test_known_caller_comes_back_with_customer_and_case(crm):
    context = await look_up_caller(crm, normalize_ani("+14155552671"), 1.5)
    assert context.crm_status == "ok" and context.customer.name == "Jane Doe" and context.case.number == "CAS-01234"
    assert context.lookup_ms > 0


async def test_withheld_numbers_are_not_searched(crm):
    context = await look_up_caller(crm, normalize_ani("anonymous"), 1.5)
    assert context.crm_status == "skipped" and context.customer is None


async def test_a_crm_slower_than_the_budget_is_unavailable_within_the_budget(tmp_path):
    crm = SlowCRM(tmp_path / "slow.sqlite3", delay=5)
    crm.seed_demo()
    loop = asyncio.get_running_loop()
    started = loop.time()
    context = await look_up_caller(crm, normalize_ani("+14155552671"), 0.3)
    assert loop.time() - started < 1.0
    assert context.crm_status == "unavailable" and "timed out" in context.crm_error and context.customer is None


async def test_a_failing_crm_is_unavailable_not_an_exception(tmp_path):
    crm = BrokenCRM(tmp_path / "broken.sqlite3")
    context = await look_up_caller(crm, normalize_ani("+14155552671"), 1.5)
    assert context.crm_status == "unavailable" and "ConnectionError" in context.crm_error


async def test_case_refresh_reads_the_crm_now(crm):
    context = await look_up_caller(crm, normalize_ani("+14155552671"), 1.5)
    crm.add_case(
        phone="+14155552671",
        number="CAS-01234",
        title="Router keeps dropping the connection",
        status="Waiting for parts",
    )
    assert (await refresh_case(crm, context, 1.5)).status == "Waiting for parts"


async def test_case_refresh_falls_back_to_what_we_knew_when_the_crm_is_slow(tmp_path):
    class SlowCases(LocalCRM):
        async def latest_case(self, customer):
            await asyncio.sleep(5)

    crm = SlowCases(tmp_path / "c.sqlite3")
    crm.seed_demo()
    fast = LocalCRM(crm.path)
    context = await look_up_caller(fast, normalize_ani("+14155552671"), 1.5)
    assert (await refresh_case(crm, context, 0.2)) == context.case
