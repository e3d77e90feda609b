"""Load beyond capacity and a long soak: the calls a server refuses, and what it keeps of each hour.

``overload`` places twice ``limits.max_calls`` at once: the calls beyond the
limit must be refused at the protocol level (close 1013) and the admitted ones
must go exactly as they would alone. ``soak`` keeps a number of calls going
back to back for minutes while sampling the server's memory, file descriptors
and threads; :func:`trend` fits the growth, so the soak can assert it is
bounded (the figures are in docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from voicebot.bench.conversation import bench_call
from voicebot.bench.server import ServerProcess, open_fds, process_tree, rss_bytes, thread_count
from voicebot.pipeline.tts import Voice
from voicebot.scenarios.play import CallObservation, place_call

REFUSED = 1013
MAX_RSS_MB_PER_MIN = 1.0  # a 10-minute soak resolves no finer; a longer --minutes tightens what it can show


@dataclass(frozen=True, slots=True)
class Sample:
    at_secs: float
    rss_mb: float
    fds: int
    threads: int
    active_calls: int


@dataclass
class OverloadResult:
    placed: int
    admitted: int
    refused: int
    refused_counted: int
    admitted_ok: int  # every turn answered and the record complete, as a lone call would be
    problems: list[str] = field(default_factory=list)


@dataclass
class SoakResult:
    minutes: float
    concurrent: int
    calls: int
    failed: int
    samples: list[Sample]
    settled: Sample
    problems: list[str] = field(default_factory=list)


def sample(server: ServerProcess, started: float, active_calls: int) -> Sample:
    tree = process_tree(server.pid)
    return Sample(
        at_secs=round(time.monotonic() - started, 1),
        rss_mb=round(rss_bytes(tree) / 2**20, 1),
        fds=open_fds(tree),
        threads=thread_count(tree),
        active_calls=active_calls,
    )


def trend(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of ``(x, y)`` points (y per x); 0 for fewer than two distinct x."""
    if len({x for x, _ in points}) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    den = sum((x - mean_x) ** 2 for x, _ in points)
    return num / den


def call_problems(obs: CallObservation) -> list[str]:
    """What went wrong in an admitted call, compared with what the bench conversation should give."""
    problems = [obs.problem] if obs.problem else []
    unanswered = sum(t.reply is None for t in obs.turns)
    if unanswered:
        problems.append(f"{unanswered} turns unanswered")
    record = obs.record or {}
    said = [t for t in record.get("turns", []) if t["role"] == "caller"]
    if record.get("outcome") != "completed" or len(said) != 3:
        problems.append(f"record: outcome {record.get('outcome')}, {len(said)} caller turns")
    return [f"{obs.call_id}: {p}" for p in problems]


async def overload(server: ServerProcess, max_calls: int, factor: float, voice: Voice) -> OverloadResult:
    placed = round(max_calls * factor)
    observations = await asyncio.gather(
        *(place_call(bench_call(i), server.ws_url, server.http_url, voice, linger_secs=10) for i in range(placed))
    )
    refused = [o for o in observations if o.close_code == REFUSED]
    admitted = [o for o in observations if o.close_code != REFUSED]
    problems = [p for o in admitted for p in call_problems(o)]
    problems += [f"{o.call_id}: refused, yet has a record" for o in refused if o.record]
    async with httpx.AsyncClient() as client:
        counters = (await client.get(f"{server.http_url}/api/metrics")).json()["counters"]
    return OverloadResult(
        placed=placed,
        admitted=len(admitted),
        refused=len(refused),
        refused_counted=counters.get("calls_refused", 0),
        admitted_ok=sum(not call_problems(o) for o in admitted),
        problems=problems,
    )


async def soak(
    server: ServerProcess, minutes: float, concurrent: int, voice: Voice, every_secs: float = 15.0
) -> SoakResult:
    started = time.monotonic()
    deadline = started + minutes * 60
    observations: list[CallObservation] = []
    active = 0

    async def line(slot: int) -> None:
        nonlocal active
        n = 0
        while time.monotonic() < deadline:
            active += 1
            try:
                call = bench_call(slot * 10_000 + n)
                observations.append(await place_call(call, server.ws_url, server.http_url, voice, linger_secs=10))
            finally:
                active -= 1
            n += 1

    async def watch(samples: list[Sample]) -> None:
        while True:
            samples.append(sample(server, started, active))
            await asyncio.sleep(every_secs)

    samples: list[Sample] = []
    watcher = asyncio.create_task(watch(samples))
    await asyncio.gather(*(line(slot) for slot in range(concurrent)))
    watcher.cancel()
    await asyncio.sleep(5)  # calls' tasks and sockets wind down
    settled = sample(server, started, 0)
    problems = [p for o in observations for p in call_problems(o)]
    return SoakResult(
        minutes,
        concurrent,
        len(observations),
        sum(bool(call_problems(o)) for o in observations),
        samples,
        settled,
        problems,
    )


def bounded(result: SoakResult) -> dict[str, Any]:
    """The soak's verdict: memory growth over its second half (the first warms caches and allocator arenas
    up), and whether descriptors and threads came back once the calls ended."""
    half = result.samples[-1].at_secs / 2
    steady = [s for s in result.samples if s.at_secs >= half] or result.samples
    rss_per_min = trend([(s.at_secs / 60, s.rss_mb) for s in steady])
    first = steady[0]
    checks = {
        "rss_mb_per_min_second_half": round(rss_per_min, 2),
        "rss_mb_before_calls": result.samples[0].rss_mb,
        "rss_mb_at_half": first.rss_mb,
        "rss_mb_peak": max(s.rss_mb for s in result.samples),
        "rss_mb_settled": result.settled.rss_mb,
        "fds_before_calls": result.samples[0].fds,
        "fds_peak": max(s.fds for s in result.samples),
        "fds_settled": result.settled.fds,
        "threads_before_calls": result.samples[0].threads,
        "threads_peak": max(s.threads for s in result.samples),
        "threads_settled": result.settled.threads,
    }
    checks["rss_bounded"] = rss_per_min < MAX_RSS_MB_PER_MIN
    checks["fds_returned"] = result.settled.fds <= result.samples[0].fds + 5
    checks["threads_returned"] = result.settled.threads <= result.samples[0].threads + 5
    return checks
