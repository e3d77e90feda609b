"""The agent desktop in a real browser: a call runs and its screen pop appears, live."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.e2e.conftest import record
from voicebot.caller import TwilioCaller

pytestmark = pytest.mark.e2e

JANE = "+14155552671"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parents[2] / "test-results"
# As root, headless, and with no background calls to hosts this machine cannot reach.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def test_the_pop_arrives_on_the_desktop_with_customer_case_and_link(server):
    SCREENSHOTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        await page.goto(server["http"] + "/agent")
        await page.wait_for_function("document.getElementById('status').textContent === 'live'")

        async with TwilioCaller(server["ws"], caller=JANE) as call:
            await call.wait_for_prompts(1)
            live = page.locator(f".call[data-call-id='{call.call_sid}']")
            await live.wait_for()
            assert "Jane Doe" in await live.inner_text()
            assert "CAS-01234" in await live.inner_text()
            await call.press("1")
            await call.wait_closed(30)

        pop = page.locator(f".pop[data-call-id='{call.call_sid}']")
        await pop.wait_for(timeout=15000)
        await page.screenshot(path=str(SCREENSHOTS / "agent-desktop.png"), full_page=True)
        assert await pop.locator(".customer").inner_text() == "Jane Doe"
        assert "CAS-01234" in await pop.locator(".case").inner_text()
        assert await pop.locator(".reason").inner_text() == "caller requested agent"
        case_id = record(server, call.call_sid)["case"]["id"]
        assert (await pop.locator("a.open").get_attribute("href")).endswith(f"/crm/cases/{case_id}")
        transcript = await page.locator(f".call[data-call-id='{call.call_sid}'] .transcript").inner_text()
        assert "bot: Hi Jane" in transcript
        await browser.close()
