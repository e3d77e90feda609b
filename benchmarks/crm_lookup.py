"""Caller look-up time through the Dynamics and Zendesk back ends, against the loopback stand-ins.

Measures the client side (token cache, query building, parsing, retries, budget)
with the network taken out, and how fast a look-up gives up when the CRM hangs,
fails, or the breaker is open. Run from the repository root:

    python benchmarks/crm_lookup.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from tests.standins.dataverse import CLIENT_ID, CLIENT_SECRET, TENANT, Dataverse
from tests.standins.zendesk import API_TOKEN, EMAIL, Zendesk
from voicebot.config import load_settings
from voicebot.tools.ani import normalize_ani
from voicebot.tools.crm.base import open_crm
from voicebot.tools.lookup import look_up_caller

CALLER = normalize_ani("+14155552671")
BUDGET = 1.5


async def timed(crm) -> tuple[float, str]:
    started = time.monotonic()
    context = await look_up_caller(crm, CALLER, BUDGET)
    return (time.monotonic() - started) * 1000, context.crm_error or context.crm_status


async def dynamics() -> None:
    standin = Dataverse()
    jane = standin.add_contact("Jane Doe", mobilephone="(415) 555-2671")
    standin.add_incident("CAS-1", "Router", "2026-11-18T09:12:00Z", customer=jane)
    dynamics = {
        "org_url": standin.url,
        "authority_url": standin.url,
        "tenant_id": TENANT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    crm = open_crm(load_settings(environ={}, crm={"backend": "dynamics", "dynamics": dynamics}), "")
    runs = [(await timed(crm))[0] for _ in range(50)]
    print(
        f"dynamics look-up: first {runs[0]:.1f} ms (incl. token), then median {statistics.median(runs[1:]):.1f} ms,"
        f" max {max(runs[1:]):.1f} ms (n=49)"
    )
    standin.delay = 5.0
    print("dynamics hanging:      gave up after %.0f ms (%s)" % await timed(crm))
    standin.delay = 0.0
    standin.fail_next(503, times=100)
    print("dynamics failing 503:  gave up after %.0f ms (%.50s)" % await timed(crm))
    print("dynamics breaker open: gave up after %.1f ms (%.50s)" % await timed(crm))
    await crm.close()
    standin.close()


async def zendesk() -> None:
    standin = Zendesk()
    user = standin.add_user("Jane Doe", "+1 (415) 555-2671")
    standin.add_ticket(user, "Printer", "open", "2026-11-18T09:00:00Z")
    zendesk = {"base_url": standin.url, "email": EMAIL, "api_token": API_TOKEN}
    crm = open_crm(load_settings(environ={}, crm={"backend": "zendesk", "zendesk": zendesk}), "")
    runs = [(await timed(crm))[0] for _ in range(50)]
    print(f"zendesk look-up:  median {statistics.median(runs):.1f} ms, max {max(runs):.1f} ms (n=50)")
    await crm.close()
    standin.close()


async def main() -> None:
    await dynamics()
    await zendesk()


if __name__ == "__main__":
    asyncio.run(main())
