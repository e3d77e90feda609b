"""``voicebot test-calls`` as CI runs it: scenario files in, report, JUnit XML and exit code out."""

from __future__ import annotations

import subprocess
import sys
import wave
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.e2e

SCENARIOS = """
calls:
  - name: unknown caller goes to an agent
    ani: "+12125550123"
    turns:
      - bot_says: couldn't find a case for your number
        max_latency_ms: 3000
    expect:
      outcome: transferred
      reason: unknown_caller
      screen_pop: {customer: null, action.type: new_case_form}

  - name: Carlos says goodbye from a recording
    ani: "+14155550142"
    turns:
      - bot_says: Hi Carlos
      - play: goodbye.wav
        intent: goodbye
        bot_matches: "thanks for calling.*bye"  # tiny.en hears "Goodbye" or "Bye-bye"
    expect:
      outcome: completed
      screen_pop: false

  - name: an expectation the bot does not meet
    ani: "+12125550123"
    expect:
      reason: no_open_case
"""


def test_scenarios_run_against_a_server_and_failures_fail_the_run(server, tmp_path, caller_voice):
    with wave.open(str(tmp_path / "goodbye.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(caller_voice.synthesize("No thanks, that's all."))
    (tmp_path / "calls.yaml").write_text(SCENARIOS)
    (tmp_path / "fixtures.yaml").write_text("crm: [{name: Ann, phones: ['+16505550199']}]\ncalls: [{name: ann}]")
    junit = tmp_path / "results.xml"
    url = server["ws"].removesuffix("/twilio/media")

    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "voicebot",
            "test-calls",
            str(tmp_path),
            "--url",
            url,
            "--concurrency",
            "2",
            "--junit",
            str(junit),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 1, run.stdout + run.stderr
    assert "PASS  calls / unknown caller goes to an agent" in run.stdout
    assert "PASS  calls / Carlos says goodbye from a recording" in run.stdout
    assert "FAIL  calls / an expectation the bot does not meet" in run.stdout
    assert "FAIL reason = 'no_open_case': was 'unknown_caller'" in run.stdout
    assert "SKIP  fixtures / ann: needs its own server settings or CRM fixtures; run without --url" in run.stdout
    assert "3 calls: 2 passed, 1 failed, 1 skipped" in run.stdout
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "1", "1")


def test_a_scenario_file_that_cannot_be_run_exits_2_with_the_reason(server, tmp_path):
    (tmp_path / "bad.yaml").write_text("calls: [{name: c, turns: [{say: hi, dtmf: '1'}]}]")
    run = subprocess.run(
        [sys.executable, "-m", "voicebot", "test-calls", str(tmp_path / "bad.yaml"), "--url", "ws://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert "bad.yaml: calls.0.turns.0: Value error, a turn does one thing; this one has say and dtmf" in run.stderr


def test_an_unreachable_server_fails_every_call_with_the_reason(tmp_path):
    (tmp_path / "one.yaml").write_text("calls: [{name: c, expect: {outcome: completed}}]")
    run = subprocess.run(
        [sys.executable, "-m", "voicebot", "test-calls", str(tmp_path), "--url", "ws://127.0.0.1:1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "FAIL call played as written: cannot reach voicebot at ws://127.0.0.1:1/twilio/media" in run.stdout
