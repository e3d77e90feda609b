"""Run the benchmark: each concurrency level against each server, then tables, JSON and a plot.

Reply latency is timed at the caller, from the end of speech in the audio it
sent to the first audible bot audio of the reply; a reply that starts before
the caller has finished is counted as a premature turn end (a cut-off), not as
a latency, whether or not the bot then took it back. The ``callers`` mix (see
:mod:`voicebot.bench.conversation`) also reports short answers on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from voicebot.bench.conversation import BenchCall, Mix, bench_call, caller_calls, crm_fixtures
from voicebot.bench.server import ServerProcess, Usage
from voicebot.bench.time_spent import TimeSpent, reply_timings, time_spent
from voicebot.caller.tokens import ServerTokens
from voicebot.pipeline.tts import Voice
from voicebot.scenarios.line import caller_voice
from voicebot.scenarios.play import CallObservation, TurnObservation, fetch_record, place_call, prepare_audio, script
from voicebot.server.metrics import Timings, describe_ms, watch_event_loop

BASELINE_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pipecat_baseline.py"
LINGER_SECS = 3.0  # after the goodbye: the baseline never hangs up, so the caller does
HUNG_UP = 1000  # the close code of a server that ended the call itself (a crash closes with none: 1006)


@dataclass
class BenchOptions:
    levels: list[int] = field(default_factory=lambda: [1])
    rounds: int = 1  # each level's calls are placed this many times over, one round after another
    baseline: bool = False
    url: str | None = None
    workers: int = 1  # server processes (``voicebot serve --workers``)
    stagger_secs: float = 0.5
    json_path: Path | None = None
    plot_path: Path | None = None
    tokens: ServerTokens = ServerTokens()  # for a server at ``url`` that has secrets
    mix: Mix = "classic"
    part: str = "test"  # the turn material the callers mix speaks
    keep: Path | None = None  # each server's log and data directory are copied under it (one folder per run)


def outcome_of(turn: TurnObservation, close_code: int | None) -> str:
    """ended: the bot hung up first (after a misheard goodbye, say); unanswered: no reply and no hang-up;
    premature: the bot began before the caller's last word, whether or not it took it back."""
    if turn.call_ended and close_code == HUNG_UP:
        return "ended"
    if turn.reply is None:
        return "unanswered"
    return "premature" if turn.early_ms is not None else "answered"


@dataclass(frozen=True)
class TurnOutcome:
    """One caller turn as the caller saw it: what was said, and how the reply came (for reading a run's cut-offs)."""

    call: str
    kind: str  # short / sentence / paused / greeting
    said: str | None
    outcome: str  # answered / premature / unanswered / ended
    latency_ms: float | None
    early_ms: float | None = None  # how long before the caller's last word the bot began (premature turns)
    withdrawn: bool = False  # the bot cleared its early start and answered again


@dataclass
class LevelResult:
    server: str
    calls: int
    latencies_ms: list[float]
    greetings_ms: list[float]
    premature: int
    unanswered: int
    short_latencies_ms: list[float]  # replies to short answers ("Agent.", "Yes.")
    ended_early: int  # turns the bot had hung up before answering (a misheard answer that transfers, say)
    underruns: int
    underrun_ms: float
    failed_calls: int
    cpu_cores: float | None
    peak_rss_mb: float | None
    server_timings: dict[str, Any]
    client_loop_lag: dict[str, Any]  # the simulated callers' own event loop: late reads look like underruns
    wall_secs: float
    turn_log: list[TurnOutcome] = field(default_factory=list)
    spent: TimeSpent | None = None  # the server's account of where its replies' time went

    def row(self) -> dict[str, Any]:
        lat = describe_ms(self.latencies_ms) if self.latencies_ms else {}
        short = describe_ms(self.short_latencies_ms) if self.short_latencies_ms else {}
        greet = describe_ms(self.greetings_ms) if self.greetings_ms else {}
        return {
            "server": self.server,
            "calls": self.calls,
            "reply_p50_ms": lat.get("p50_ms"),
            "reply_p95_ms": lat.get("p95_ms"),
            "reply_max_ms": lat.get("max_ms"),
            "turns": lat.get("count", 0),
            "short_p50_ms": short.get("p50_ms"),
            "short_p95_ms": short.get("p95_ms"),
            "greeting_p50_ms": greet.get("p50_ms"),
            "greeting_p95_ms": greet.get("p95_ms"),
            "premature": self.premature,
            "unanswered": self.unanswered,
            "ended_early": self.ended_early,
            "underruns": self.underruns,
            "server_gaps": self.server_timings.get("playout_late", {}).get("count", 0 if self.server_timings else None),
            "cpu_cores": None if self.cpu_cores is None else round(self.cpu_cores, 2),
            "peak_rss_mb": None if self.peak_rss_mb is None else round(self.peak_rss_mb),
            "stt_p50_ms": self.server_timings.get("stt", {}).get("p50_ms"),
            "tts_first_audio_p50_ms": self.server_timings.get("tts_first_audio", {}).get("p50_ms"),
            "loop_lag_p99_ms": self.server_timings.get("event_loop_lag", {}).get("p99_ms"),
            "audio_behind_p95_ms": self.server_timings.get("audio_behind", {}).get("p95_ms"),
            "client_loop_lag_p99_ms": self.client_loop_lag.get("p99_ms"),
        }


def voicebot_server(
    workers: int = 1, env: dict[str, str] | None = None, crm: Path | None = None, keep: Path | None = None
) -> ServerProcess:
    """``crm``: customers to import into the server's own CRM before it starts; ``keep``: see :class:`ServerProcess`.

    It logs warnings only, unless ``VOICEBOT_LOG_LEVEL`` says otherwise (to keep a call's turns with ``keep``).
    """
    command = ["{python}", "-m", "voicebot", "serve", "--port", "{port}", "--data-dir", "{data_dir}"]
    command += ["--workers", str(workers)]
    setup = [["{python}", "-m", "voicebot", "crm", "import", str(crm), "--data-dir", "{data_dir}"]] if crm else []
    env = {"VOICEBOT_LOG_LEVEL": os.environ.get("VOICEBOT_LOG_LEVEL", "WARNING"), **(env or {})}
    return ServerProcess("voicebot", command, env, workers=workers, setup=setup, keep=keep)


def baseline_server(keep: Path | None = None) -> ServerProcess:
    return ServerProcess("pipecat baseline", ["{python}", str(BASELINE_SCRIPT), "--port", "{port}"], keep=keep)


def bench_calls(count: int, voice: Voice, options: BenchOptions) -> list[BenchCall]:
    if options.mix == "callers":
        from voicebot.bench.understanding import caller_voices

        voices = [(v, v.noise_dbfs) for v in caller_voices()]
        return caller_calls(count, voices, options.part)
    return [BenchCall(bench_call(i), voice, ["sentence"] * 3) for i in range(count)]


async def run_level(
    name: str, ws_url: str, http_url: str, calls: int, voice: Voice, options: BenchOptions, server: ServerProcess | None
) -> LevelResult:
    is_baseline = name != "voicebot"
    since = time.time()
    planned = await asyncio.to_thread(bench_calls, calls, voice, options)
    kinds = {b.call.name: b.kinds for b in planned}
    # Every caller's speech is rendered before the first call: on a shared machine, rendering it during the run
    # would take the server's CPU and be measured as the server's latency.
    speech = await asyncio.to_thread(lambda: [prepare_audio(script(b.call), b.voice) for b in planned])

    async def one(i: int) -> CallObservation:
        await asyncio.sleep(i * options.stagger_secs)
        return await place_call(
            planned[i].call,
            ws_url,
            None,
            planned[i].voice,
            linger_secs=LINGER_SECS,
            prompts_end_on_pause=is_baseline,
            tokens=options.tokens,
            audio=speech[i],
        )

    started = time.monotonic()
    window = server.measure() if server else contextlib.nullcontext()
    observations: list[CallObservation] = []
    client = Timings()
    watch = asyncio.create_task(watch_event_loop(client))
    with window:
        for _ in range(options.rounds):
            observations += await asyncio.gather(*(one(i) for i in range(calls)))
    watch.cancel()
    wall = time.monotonic() - started
    usage: Usage | None = getattr(window, "usage", None)
    turn_log = []
    for obs in observations:
        said = iter(kinds[obs.call.name])
        for turn in obs.turns:
            turn_log.append(
                TurnOutcome(
                    obs.call.name,
                    next(said, "") if turn.turn.action != "listen" else "greeting",
                    turn.turn.say,
                    outcome_of(turn, obs.close_code),
                    turn.latency_ms,
                    turn.early_ms,
                    turn.withdrawn is not None,
                )
            )
    # (turn, latency) for each reply that came: a greeting, or an answer after the caller's last word.
    replied = [(t, t.latency_ms) for t in turn_log if t.latency_ms is not None and t.outcome != "unanswered"]
    greetings = [ms for t, ms in replied if t.kind == "greeting"]
    answered = [(t, ms) for t, ms in replied if t.kind != "greeting" and t.outcome == "answered"]
    return LevelResult(
        server=name,
        calls=calls,
        latencies_ms=[ms for _, ms in answered],
        greetings_ms=greetings,
        premature=sum(t.outcome == "premature" and t.kind != "greeting" for t in turn_log),
        unanswered=sum(t.outcome == "unanswered" for t in turn_log),
        short_latencies_ms=[ms for t, ms in answered if t.kind == "short"],
        ended_early=sum(t.outcome == "ended" for t in turn_log),
        underruns=sum(o.underruns for o in observations),
        underrun_ms=round(sum(o.underrun_secs for o in observations) * 1000, 1),
        failed_calls=sum(o.problem is not None for o in observations),
        cpu_cores=usage.cpu_cores if usage else None,
        peak_rss_mb=usage.peak_rss_mb if usage else None,
        server_timings=await _server_timings(http_url, since, options.tokens) if not is_baseline else {},
        client_loop_lag=client.summary().get("event_loop_lag", {}),
        wall_secs=round(wall, 1),
        turn_log=turn_log,
        spent=None if is_baseline else await _spent(http_url, observations, options.tokens),
    )


async def _spent(http_url: str, observations: list[CallObservation], tokens: ServerTokens) -> TimeSpent | None:
    records = [await fetch_record(http_url, obs.call_id, tokens) for obs in observations if obs.call_id]
    return time_spent(reply_timings(r for r in records if r is not None))


async def _server_timings(http_url: str, since: float, tokens: ServerTokens) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=5, headers=tokens.api_headers) as client:
            response = await client.get(f"{http_url}/api/metrics", params={"since": since})
        return response.json().get("timings", {}) if response.status_code == 200 else {}
    except httpx.HTTPError:
        return {}


async def run_bench(options: BenchOptions, out: Callable[[str], None] = print) -> list[LevelResult]:
    voice = await asyncio.to_thread(caller_voice)
    results: list[LevelResult] = []
    if options.url:
        from voicebot.caller import http_base

        for calls in options.levels:
            results.append(
                await run_level("voicebot", options.url, http_base(options.url), calls, voice, options, None)
            )
            out(_line(results[-1].row()))
    else:
        crm = crm_fixtures(Path(tempfile.mkdtemp(prefix="bench-crm-")) / "customers.json")
        servers = [
            (
                "voicebot",
                lambda keep: voicebot_server(options.workers, crm=crm if options.mix == "callers" else None, keep=keep),
            )
        ]
        servers += [("baseline", baseline_server)] if options.baseline else []
        for calls in options.levels:
            for label, make in servers:
                keep = options.keep / f"{label}-{calls}-calls" if options.keep else None
                with make(keep) as server:  # a fresh process per level: its RSS and caches start alike
                    result = await run_level(server.name, server.ws_url, server.http_url, calls, voice, options, server)
                results.append(result)
                out(_line(result.row()))
    for line in table(results):
        out(line)
    if options.json_path:
        write_json(results, options, options.json_path)
        out(f"JSON: {options.json_path}")
    if options.plot_path:
        from voicebot.bench.plot import plot_latency

        plot_latency(results, options.plot_path)
        out(f"plot: {options.plot_path}")
    return results


COLUMNS = [
    ("server", "server", 16),
    ("calls", "calls", 5),
    ("reply_p50_ms", "p50", 6),
    ("reply_p95_ms", "p95", 6),
    ("reply_max_ms", "max", 6),
    ("turns", "turns", 5),
    ("short_p50_ms", "short50", 7),
    ("short_p95_ms", "short95", 7),
    ("greeting_p50_ms", "greet50", 7),
    ("greeting_p95_ms", "greet95", 7),
    ("premature", "early", 5),
    ("unanswered", "unans", 5),
    ("ended_early", "ended", 5),
    ("underruns", "under", 5),
    ("server_gaps", "gaps", 5),
    ("cpu_cores", "cores", 5),
    ("peak_rss_mb", "RSS MB", 6),
    ("stt_p50_ms", "stt50", 5),
    ("tts_first_audio_p50_ms", "tts50", 5),
    ("loop_lag_p99_ms", "lag99", 5),
    ("audio_behind_p95_ms", "behind95", 8),
    ("client_loop_lag_p99_ms", "clag99", 6),
]


def _cell(value: Any, width: int) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:.0f}".rjust(width) if width > 5 or value >= 10 else f"{value:.2f}".rjust(width)
    return str(value).rjust(width) if not isinstance(value, str) else value.ljust(width)


def _line(row: dict[str, Any]) -> str:
    return "  ".join(_cell(row[key], width) for key, _, width in COLUMNS)


def table(results: list[LevelResult]) -> list[str]:
    """Latency in ms at the caller; greeting = stream start to first bot audio; early = cut-offs (the bot spoke
    before the caller had finished); ended = turns left unplayed because the call had ended."""
    lines = ["", "  ".join(title.ljust(w) if k == "server" else title.rjust(w) for k, title, w in COLUMNS)]
    lines += [_line(r.row()) for r in results]
    ours = {r.calls: r for r in results if r.server == "voicebot"}
    for r in ours.values():
        if r.spent is not None:
            caller = sum(r.latencies_ms) / len(r.latencies_ms) if r.latencies_ms else None
            lines.append(f"{r.calls} calls, where a reply's time goes: {r.spent.line(caller)}")
    for r in results:
        mine = ours.get(r.calls)
        if r.server != "voicebot" and mine and mine.latencies_ms and r.latencies_ms:
            a, b = describe_ms(mine.latencies_ms), describe_ms(r.latencies_ms)
            rss = f"{r.peak_rss_mb / mine.peak_rss_mb:.2f}x" if r.peak_rss_mb and mine.peak_rss_mb else "not measured"
            lines.append(
                f"{r.calls} calls: {r.server} / voicebot reply latency: p50 {b['p50_ms'] / a['p50_ms']:.2f}x,"
                f" p95 {b['p95_ms'] / a['p95_ms']:.2f}x (of turns answered in time: {len(r.latencies_ms)} vs"
                f" {len(mine.latencies_ms)}); peak RSS {rss}"
            )
    return lines


def write_json(results: list[LevelResult], options: BenchOptions, path: Path) -> None:
    document = {
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "command": " ".join(["voicebot", "bench", *sys.argv[2:]]) if sys.argv[1:2] == ["bench"] else None,
        "stagger_secs": options.stagger_secs,
        "mix": options.mix,
        "part": options.part,
        "results": [{**r.row(), **asdict(r)} for r in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2))
