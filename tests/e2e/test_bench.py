"""``voicebot bench`` against a running server: every turn timed at the caller, results as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_bench_times_every_turn_of_a_call_and_writes_json(server, tmp_path):
    out = tmp_path / "bench.json"
    url = server["ws"].removesuffix("/twilio/media")
    run = subprocess.run(
        [sys.executable, "-m", "voicebot", "bench", "--url", url, "--calls", "1", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "server            calls     p50" in run.stdout
    [level] = json.loads(out.read_text())["results"]
    assert level["server"] == "voicebot" and level["calls"] == 1
    assert level["turns"] + level["premature"] == 3 and level["unanswered"] == 0
    assert all(0 < ms < 5000 for ms in level["latencies_ms"])
    assert 0 < level["greetings_ms"][0] < 3000
    assert level["stt_p50_ms"] > 0  # the server's own timings, from /api/metrics
    assert level["cpu_cores"] is None  # a server reached by URL is not measured from here


def test_bench_refuses_a_malformed_level_list():
    run = subprocess.run(
        [sys.executable, "-m", "voicebot", "bench", "--calls", "1,x"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 2 and "--calls takes numbers separated by commas" in run.stderr
