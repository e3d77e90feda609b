"""The report: readable lines for people, JUnit XML for CI systems."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from voicebot.scenarios.checks import CallReport, Check, TurnReport, skipped
from voicebot.scenarios.model import Call, Turn
from voicebot.scenarios.report import call_lines, junit_xml, summary_lines


def report(name: str, *checks: Check, scenario: str = "flows", latency: float = 800.0) -> CallReport:
    turn = TurnReport(1, Turn(say="a person please"), heard="Connecting you.", latency_ms=latency, checks=list(checks))
    return CallReport(scenario, Call(name=name), "CA" + name, [turn], [], 10.0, {"outcome": "transferred"})


def test_the_readable_report_shows_each_turn_and_each_check():
    lines = call_lines(report("agent", Check("turn 1: bot says 'goodbye'", False, 'heard "Connecting you."')))
    assert lines[0].startswith("FAIL  flows / agent  (10.0 s, call CAagent)")
    assert '  1. caller says "a person please"  [800 ms]' in lines
    assert "       caller heard the bot: Connecting you." in lines
    assert "       FAIL turn 1: bot says 'goodbye': heard \"Connecting you.\"" in lines


def test_the_summary_counts_calls_and_expectations_and_names_failures():
    reports = [
        report("a", Check("x", True), latency=700),
        report("b", Check("y", False, "was z"), latency=900),
        skipped("remote", Call(name="c"), "needs its own server"),
    ]
    lines = summary_lines(reports)
    assert lines[0] == "2 calls: 1 passed, 1 failed, 1 skipped; 1/2 expectations met"
    assert lines[1] == "reply latency after the caller: median 800 ms, max 900 ms (n=2)"
    assert lines[-1] == "failed: flows / b: y: was z"


def test_junit_xml_has_a_suite_per_file_and_a_case_per_call(tmp_path):
    reports = [
        report("a", Check("x", True)),
        report("b", Check("y", False, "was z"), Check("w", False, "was v")),
        skipped("remote", Call(name="c"), "needs its own server"),
    ]
    path = tmp_path / "out" / "scenarios.xml"
    junit_xml(reports, path)
    root = ET.parse(path).getroot()
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("skipped")) == ("testsuites", "3", "1", "1")
    flows, remote = root.findall("testsuite")
    assert flows.get("name") == "flows" and flows.get("tests") == "2" and flows.get("failures") == "1"
    passed, failed = flows.findall("testcase")
    assert passed.find("failure") is None and passed.get("classname") == "scenarios.flows"
    failure = failed.find("failure")
    assert failure.get("message") == "2 of 2 expectations failed"
    assert failure.text == "y: was z\nw: was v"
    assert "FAIL  flows / b" in failed.find("system-out").text
    assert remote.find("testcase/skipped").get("message") == "needs its own server"
