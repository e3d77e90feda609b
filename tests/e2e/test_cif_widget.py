"""The Dynamics 365 channel widget in a real browser, with a recording stand-in of Dynamics' CIF library.

Calls run through the real server over Twilio Media Streams against the
Dataverse stand-in as the CRM; when the bot hands a caller over, the widget
must open a session named after the caller and the case (or the caller's
contacts) through ``Microsoft.CIFramework``, with the right ids.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import async_playwright

from tests.e2e.conftest import record, start_server, stop_server
from tests.e2e.test_agent_desktop import ARGS, CHROMIUM, SCREENSHOTS
from tests.standins.cif import DynamicsOrg
from tests.standins.dataverse import CLIENT_ID, CLIENT_SECRET, TENANT, Dataverse
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
STRANGER = "+15005550006"
TOKEN = "operator-token"


@pytest.fixture(scope="module")
def dynamics():
    org, dataverse = DynamicsOrg(), Dataverse()
    jane = dataverse.add_contact("Jane Doe", telephone1=JANE)
    case = dataverse.add_incident("CAS-04242", "Router keeps dropping", "2026-11-30T09:00:00Z", customer=jane)
    yield org, dataverse, jane, case
    org.close()
    dataverse.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, dynamics):
    org, dataverse, _, _ = dynamics
    proc, log, urls = start_server(
        tmp_path_factory.mktemp("voicebot-cif"),
        {
            "VOICEBOT_CRM__BACKEND": "dynamics",
            "VOICEBOT_CRM__DYNAMICS__ORG_URL": dataverse.url,
            "VOICEBOT_CRM__DYNAMICS__AUTHORITY_URL": dataverse.url,
            "VOICEBOT_CRM__DYNAMICS__TENANT_ID": TENANT,
            "VOICEBOT_CRM__DYNAMICS__CLIENT_ID": CLIENT_ID,
            "VOICEBOT_CRM__DYNAMICS__CLIENT_SECRET": CLIENT_SECRET,
            "VOICEBOT_CIF__ORG_URL": org.url,
            "VOICEBOT_ACCESS__TOKEN": TOKEN,
        },
    )
    urls["api_headers"] = {"Authorization": f"Bearer {TOKEN}"}
    yield urls
    stop_server(proc, log)


async def cif_calls(page, name: str, count: int = 1) -> list[dict]:
    await page.wait_for_function(f"(window.__cif || []).filter(c => c.name === '{name}').length >= {count}",
                                 timeout=20000)  # fmt: skip
    return [c for c in await page.evaluate("window.__cif") if c["name"] == name]


async def test_a_hand_off_opens_a_session_named_after_the_caller_with_the_case_in_dynamics(server, dynamics):
    org, _, jane, case = dynamics
    SCREENSHOTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 420, "height": 800})  # the communication panel's width
        await page.goto(f"{server['http']}/cif/widget?token={TOKEN}")
        await page.wait_for_function("document.getElementById('status').textContent === 'live'")
        assert await page.evaluate("window.__cifLoadedWith") == {"crmurl": org.url, "cifid": "CIFMainLibrary"}

        async with TwilioCaller(server["ws"], caller=JANE) as call:
            await call.wait_for_prompts(1)
            await page.locator(f".call[data-call-id='{call.call_sid}']").wait_for()
            assert (await cif_calls(page, "setMode"))[0]["args"] == [1]
            await call.press("1")
            await call.wait_closed(30)

        [session] = await cif_calls(page, "createSession")
        assert session["args"][0] == {"templateName": "voicebot_call", "templateParameters": {"customer": "Jane Doe"}}
        [title] = await cif_calls(page, "setSessionTitle")
        assert title["args"][0] == {"sessionId": "session-1", "customer": "Jane Doe"}
        [opened] = await cif_calls(page, "searchAndOpenRecords")
        entity, query, search_only = opened["args"]
        assert entity == "incident" and query.endswith(f"$filter=incidentid eq {case}") and search_only is False
        assert record(server, call.call_sid)["case"]["id"] == case
        widget = page.locator(f".call[data-call-id='{call.call_sid}']")
        assert "opened case CAS-04242" in await widget.inner_text()
        assert "Jane Doe called about case CAS-04242" in await widget.locator(".summary").inner_text()
        await page.screenshot(path=str(SCREENSHOTS / "cif-widget.png"), full_page=True)

        # A caller the CRM does not know: the agent gets the contact search on their number.
        async with TwilioCaller(server["ws"], caller=STRANGER) as stranger:
            await stranger.wait_closed(40)
        [_, second] = await cif_calls(page, "createSession", 2)
        assert second["args"][0]["templateParameters"] == {"customer": STRANGER}
        searches = await cif_calls(page, "searchAndOpenRecords", 2)
        entity, query, _ = searches[1]["args"]
        assert entity == "contact" and "contains(telephone1,'5005550006')" in query
        await browser.close()


def test_the_widget_is_behind_the_operator_token_and_says_what_is_missing(server, tmp_path):
    assert httpx.get(server["http"] + "/cif/widget").status_code == 401
    assert httpx.get(server["http"] + f"/cif/widget?token={TOKEN}").status_code == 200
    proc, log, bare = start_server(tmp_path, {})
    try:
        missing = httpx.get(bare["http"] + "/cif/widget")
        assert missing.status_code == 503 and "cif.org_url" in missing.text
    finally:
        stop_server(proc, log)
