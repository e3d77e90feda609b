"""The browser softphone in a real Chromium whose microphone is a WAV file: a whole call from the page."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from playwright.async_api import async_playwright

from tests.e2e.test_agent_desktop import ARGS, CHROMIUM, SCREENSHOTS
from voicebot.scenarios.hearing import says

pytestmark = pytest.mark.e2e

LEAD_IN_SECS = 12.0  # the caller lets the greeting finish before speaking
TAIL_SECS = 40.0  # then stays quiet (Chromium loops the file)


def fake_microphone(path, speech8k: bytes) -> None:
    """Silence, the caller's words, silence: 16-bit 16 kHz, as Chromium's fake capture reads it."""
    import soxr

    words = soxr.resample(np.frombuffer(speech8k, dtype=np.int16), 8000, 16000).astype(np.int16)
    audio = np.concatenate(
        [np.zeros(int(16000 * LEAD_IN_SECS), np.int16), words, np.zeros(int(16000 * TAIL_SECS), np.int16)]
    )
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(audio.tobytes())


async def test_a_call_placed_from_the_page_is_greeted_and_transferred(server, caller_voice, tmp_path):
    SCREENSHOTS.mkdir(exist_ok=True)
    mic = tmp_path / "caller.wav"
    fake_microphone(mic, caller_voice.synthesize("I would like to talk to a person, please."))
    args = ARGS + [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        page = await browser.new_page()
        await page.goto(server["http"] + "/phone")
        await page.fill("#ani", "+14155552671")
        await page.click("#call")
        await page.wait_for_function("document.getElementById('status').textContent === 'in call'", timeout=15000)
        outcome = page.locator("#outcome[data-outcome]")
        await outcome.wait_for(timeout=60000)
        await page.screenshot(path=str(SCREENSHOTS / "phone.png"), full_page=True)
        transcript = await page.locator("#transcript").inner_text()
        result = await outcome.inner_text()
        await browser.close()

    assert says(transcript, "bot: Hi, Jane")
    assert says(transcript, "you: I would like to talk to a person")
    assert result == "Transferred to queue support"
