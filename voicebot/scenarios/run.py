"""``voicebot test-calls``: place every scenario's calls, check them, report.

Against a running server (``--url``) every file that needs no settings of its
own runs there; files with ``config`` or ``crm`` fixtures are skipped with the
reason, since a remote server's settings cannot be changed from here. Without
``--url`` the calls go to servers started in this process: one for the files
without settings of their own, and one per file that has them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faster_whisper import WhisperModel

from voicebot.caller import http_base
from voicebot.caller.tokens import ServerTokens
from voicebot.config import STTSettings
from voicebot.pipeline.stt import load_whisper
from voicebot.pipeline.tts import Voice
from voicebot.scenarios.checks import CallReport, evaluate, skipped
from voicebot.scenarios.line import caller_voice
from voicebot.scenarios.model import ScenarioFile
from voicebot.scenarios.play import place_call
from voicebot.scenarios.report import call_lines, junit_xml, summary_lines
from voicebot.scenarios.server import InProcessServer


@dataclass
class RunOptions:
    url: str | None = None
    concurrency: int = 1
    junit: Path | None = None
    config: Path | None = None
    tokens: ServerTokens = ServerTokens()  # for a server at ``url`` that has secrets


@dataclass
class _Listener:
    """The models on the caller's side: a voice to speak with, a recogniser to hear the bot with."""

    voice: Voice
    whisper: WhisperModel


async def run_scenarios(
    files: list[ScenarioFile], options: RunOptions, out: Callable[[str], None] = print
) -> list[CallReport]:
    """Every call of every file, in file order in the result; each call's report is printed as it is checked."""
    listener = _Listener(
        *await asyncio.gather(asyncio.to_thread(caller_voice), asyncio.to_thread(load_whisper, STTSettings()))
    )
    results: dict[int, list[CallReport]] = {}
    if options.url:
        for i, scenario in enumerate(files):
            if scenario.needs_own_server:
                results[i] = [
                    skipped(scenario.name, call, "needs its own server settings or CRM fixtures; run without --url")
                    for call in scenario.calls
                ]
                out(call_lines(results[i][0])[0] + f" ({len(scenario.calls)} calls)")
        shared = [i for i in range(len(files)) if i not in results]
        results.update(await _run_files(files, shared, options.url, http_base(options.url), listener, options, out))
    else:
        shared = [i for i, f in enumerate(files) if not f.needs_own_server]
        if shared:
            with InProcessServer(options.config, {}, None) as server:
                results.update(await _run_files(files, shared, server.ws_url, server.http_url, listener, options, out))
        for i, scenario in enumerate(files):
            if scenario.needs_own_server:
                with InProcessServer(options.config, scenario.config, scenario.crm) as server:
                    results.update(await _run_files(files, [i], server.ws_url, server.http_url, listener, options, out))
    reports = [report for i in range(len(files)) for report in results[i]]
    out("")
    for line in summary_lines(reports):
        out(line)
    if options.junit:
        junit_xml(reports, options.junit)
        out(f"JUnit XML: {options.junit}")
    return reports


async def _run_files(
    files: list[ScenarioFile],
    indices: list[int],
    ws_url: str,
    http_url: str,
    listener: _Listener,
    options: RunOptions,
    out: Callable[[str], None],
) -> dict[int, list[CallReport]]:
    gate = asyncio.Semaphore(max(1, options.concurrency))

    async def one(scenario: ScenarioFile, call) -> CallReport:
        async with gate:
            observation = await place_call(call, ws_url, http_url, listener.voice, tokens=options.tokens)
        report = await asyncio.to_thread(evaluate, scenario.name, observation, listener.whisper)
        for line in call_lines(report):
            out(line)
        return report

    batches = await asyncio.gather(
        *(asyncio.gather(*(one(files[i], call) for call in files[i].calls)) for i in indices)
    )
    return dict(zip(indices, (list(b) for b in batches), strict=True))
