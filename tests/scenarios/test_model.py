"""Scenario files: what a well-formed one means, and clear errors for what cannot be run as written."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from voicebot.scenarios.model import ScenarioError, Turn, find_scenarios, load_scenario


def write(tmp_path: Path, text: str, name: str = "calls.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_scenario_reads_calls_turns_and_expectations(tmp_path):
    scenario = load_scenario(
        write(
            tmp_path,
            """
calls:
  - name: agent please
    ani: "+14155552671"
    turns:
      - bot_says: Hi Jane
      - say: a person please
        intent: agent
        bot_says: [connecting you, agent]
        max_latency_ms: 2000
      - dtmf: "12#"
    expect:
      outcome: transferred
      transfer: support
      screen_pop: {customer.name: Jane Doe}
""",
        )
    )
    assert scenario.name == "calls"
    [call] = scenario.calls
    assert [t.action for t in call.turns] == ["listen", "say", "dtmf"]
    assert call.turns[0].bot_says == ["Hi Jane"]
    assert call.turns[1].bot_says == ["connecting you", "agent"]
    assert call.expect.screen_pop == {"customer.name": "Jane Doe"}
    assert call.platform == "twilio" and not scenario.needs_own_server


def test_wav_files_are_found_next_to_the_scenario(tmp_path):
    (tmp_path / "audio").mkdir()
    with wave.open(str(tmp_path / "audio" / "hello.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\0\0" * 800)
    scenario = load_scenario(write(tmp_path, "calls: [{name: c, turns: [{play: audio/hello.wav}]}]"))
    assert scenario.calls[0].turns[0].play == tmp_path / "audio" / "hello.wav"


@pytest.mark.parametrize(
    ("turn", "complaint"),
    [
        ("{say: hi, dtmf: '1'}", "a turn does one thing; this one has say and dtmf"),
        ("{dtmf: '1A'}", "dtmf must be keypad keys"),
        ("{silence: 3, barge_in_ms: 200}", "barge_in_ms needs something to barge in with"),
        ("{silence: 3, intent: agent}", "a silence turn has no intent to check"),
        ("{silence: 3, max_latency_ms: 900}", "a silence turn has no end of speech"),
        ("{say: hi, bot_stopped: true}", "bot_stopped is checked on barge-in turns"),
        ("{say: hi, bot_matches: '(unclosed'}", "bot_matches is not a regular expression"),
        ("{say: hi, bot_sayz: typo}", "calls.0.turns.0.bot_sayz: Extra inputs are not permitted"),
        ("{play: missing.wav}", "no such WAV file"),
        ("{say: hi, bot_says: [1234]}", "Input should be a valid string"),
    ],
)
def test_a_turn_that_cannot_be_run_as_written_is_refused_with_the_reason(tmp_path, turn, complaint):
    path = write(tmp_path, f"calls: [{{name: c, turns: [{turn}]}}]")
    with pytest.raises(ScenarioError) as error:
        load_scenario(path)
    assert str(path) in str(error.value) and complaint in str(error.value)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("calls: []", "calls: List should have at least 1 item"),
        ("- just a list", "expected a mapping with 'calls'"),
        ("calls: [{name: c, platform: skype}]", "platform must be one of"),
        ("calls: [{name: c, expect: {outcome: hung_up}}]", "expect.outcome"),
        ("calls: [{name: c}]\n  bad: indent", r"calls.yaml\", line 2, column 3"),
    ],
)
def test_a_malformed_file_is_refused_with_the_reason(tmp_path, text, complaint):
    with pytest.raises(ScenarioError, match=complaint):
        load_scenario(write(tmp_path, text))


def test_settings_or_crm_fixtures_need_a_server_of_their_own(tmp_path):
    with_config = load_scenario(write(tmp_path, "config: {transfer: {queue: x}}\ncalls: [{name: c}]", "a.yaml"))
    with_crm = load_scenario(write(tmp_path, "crm: []\ncalls: [{name: c}]", "b.yaml"))
    assert with_config.needs_own_server and with_crm.needs_own_server


def test_directories_give_their_yaml_files_in_name_order(tmp_path):
    for name in ("b.yaml", "a.yml", "notes.txt"):
        write(tmp_path, "calls: [{name: c}]", name)
    assert [s.name for s in find_scenarios([tmp_path])] == ["a", "b"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScenarioError, match="no scenario files"):
        find_scenarios([tmp_path / "empty"])
    with pytest.raises(ScenarioError, match="no such file or directory"):
        find_scenarios([tmp_path / "nowhere.yaml"])


def test_the_shipped_scenarios_are_valid_and_cover_the_seed_flows():
    files = {s.name: s for s in find_scenarios([Path(__file__).parents[2] / "scenarios"])}
    actions = {t.action for s in files.values() for c in s.calls for t in c.turns}
    assert {"say", "dtmf", "silence", "listen"} <= actions
    assert any(t.barge_in_ms for s in files.values() for c in s.calls for t in c.turns)
    assert any(c.line.noise_dbfs for s in files.values() for c in s.calls)
    reasons = {c.expect.reason for s in files.values() for c in s.calls}
    assert {"caller_requested_agent", "unknown_caller", "no_open_case", "crm_unavailable", "no_response"} <= reasons
    intents = {t.intent for s in files.values() for c in s.calls for t in c.turns}
    assert {"agent", "goodbye", "repeat"} <= intents


def test_a_turn_describes_itself_for_the_report():
    assert Turn(say="hi", barge_in_ms=300).describe() == 'says "hi" 300 ms into the bot\'s prompt'
    assert Turn(silence=2.5).describe() == "stays silent 2.5 s"
    assert Turn().describe() == "listens"
