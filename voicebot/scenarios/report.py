"""The results, for people (a readable report) and for CI systems (JUnit XML)."""

from __future__ import annotations

import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from itertools import groupby
from pathlib import Path

from voicebot.scenarios.checks import CallReport


def call_lines(report: CallReport) -> list[str]:
    """One call: verdict, then each turn (what was done, heard, timed) and every check."""
    if report.skipped:
        return [f"SKIP  {report.scenario} / {report.call.name}: {report.skipped}"]
    verdict = "PASS" if report.passed else "FAIL"
    lines = [
        f"{verdict}  {report.scenario} / {report.call.name}  ({report.duration_secs:.1f} s, call {report.call_id})"
    ]
    for turn in report.turns:
        timing = f"  [{turn.latency_ms:.0f} ms]" if turn.latency_ms is not None else ""
        lines.append(f"  {turn.number}. caller {turn.turn.describe()}{timing}")
        if turn.caller_heard and turn.turn.action in ("say", "play"):
            lines.append(f"       bot heard the caller: {turn.caller_heard}")
        if turn.intent:
            lines.append(f"       intent: {turn.intent}")
        if turn.heard is not None:
            lines.append(f"       caller heard the bot: {turn.heard or '(nothing audible)'}")
        lines += _check_lines(turn.checks)
    if report.record:
        transfer = (report.record.get("transfer") or {}).get("target")
        ended = f"{report.record.get('outcome') or 'in progress'} ({report.record.get('outcome_reason') or '-'})"
        lines.append(f"  outcome: {ended}" + (f", to {transfer}" if transfer else ""))
    lines += _check_lines(report.checks)
    return lines


def _check_lines(checks: Iterable) -> list[str]:
    return [f"       {'ok  ' if c.passed else 'FAIL'} {c.what}" + ("" if c.passed else f": {c.detail}") for c in checks]


def summary_lines(reports: list[CallReport]) -> list[str]:
    ran = [r for r in reports if not r.skipped]
    passed = sum(r.passed for r in ran)
    checks = [c for r in ran for c in r.all_checks]
    failed_checks = sum(not c.passed for c in checks)
    lines = [
        f"{len(ran)} calls: {passed} passed, {len(ran) - passed} failed"
        + (f", {len(reports) - len(ran)} skipped" if len(ran) < len(reports) else "")
        + f"; {len(checks) - failed_checks}/{len(checks)} expectations met"
    ]
    latencies = [t.latency_ms for r in ran for t in r.turns if t.latency_ms is not None and t.turn.action != "listen"]
    greetings = [r.turns[0].latency_ms for r in ran if r.turns and r.turns[0].latency_ms is not None]
    if latencies:
        lines.append(
            f"reply latency after the caller: median {statistics.median(latencies):.0f} ms,"
            f" max {max(latencies):.0f} ms (n={len(latencies)})"
        )
    if greetings:
        lines.append(
            f"greeting after the call started: median {statistics.median(greetings):.0f} ms,"
            f" max {max(greetings):.0f} ms"
        )
    for r in ran:
        if not r.passed:
            lines.append(f"failed: {r.scenario} / {r.call.name}: {r.failures[0].what}: {r.failures[0].detail}")
    return lines


def junit_xml(reports: list[CallReport], path: Path) -> None:
    """One testsuite per scenario file, one testcase per call; failures list every unmet expectation."""
    root = ET.Element("testsuites", name="voicebot test-calls")
    totals = {"tests": 0, "failures": 0, "skipped": 0, "time": 0.0}
    for scenario, group in groupby(reports, key=lambda r: r.scenario):
        calls = list(group)
        suite = ET.SubElement(root, "testsuite", name=scenario)
        counts = {
            "tests": len(calls),
            "failures": sum(not r.passed and not r.skipped for r in calls),
            "skipped": sum(bool(r.skipped) for r in calls),
            "time": sum(r.duration_secs for r in calls),
        }
        for key, value in counts.items():
            suite.set(key, f"{value:.3f}" if key == "time" else str(value))
            totals[key] += value
        suite.set("errors", "0")
        for report in calls:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"scenarios.{scenario}",
                name=report.call.name,
                time=f"{report.duration_secs:.3f}",
            )
            if report.skipped:
                ET.SubElement(case, "skipped", message=report.skipped)
                continue
            if report.failures:
                failure = ET.SubElement(
                    case,
                    "failure",
                    message=f"{len(report.failures)} of {len(report.all_checks)} expectations failed",
                    type="expectation",
                )
                failure.text = "\n".join(f"{c.what}: {c.detail}" for c in report.failures)
            ET.SubElement(case, "system-out").text = "\n".join(call_lines(report))
    for key, value in totals.items():
        root.set(key, f"{value:.3f}" if key == "time" else str(value))
    root.set("errors", "0")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
