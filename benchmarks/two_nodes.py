"""Two voicebot nodes on one PostgreSQL and one Redis, against one node on SQLite, on this machine, in one run.

python benchmarks/two_nodes.py [--calls 24]

Three set-ups take the same calls at once (the bench's classic conversation):
all on one node with the embedded SQLite stores; split in half between two
nodes each on its own SQLite files; and split between nodes A and B sharing
``store.url`` and ``events.url``. On one 2-core machine the two nodes share
its cores, so the second set-up is the baseline of the third: their difference
is what the shared stores cost a call, not what a second machine adds.
Needs PostgreSQL and redis-server installed (the test fixtures' servers run
them on loopback with throwaway directories).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the test fixtures' PostgreSQL and Redis

from tests.postgres_server import PostgresServer  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from voicebot.bench.run import BenchOptions, LevelResult, run_level, voicebot_server  # noqa: E402
from voicebot.bench.server import ServerProcess  # noqa: E402
from voicebot.pipeline.tts import Voice  # noqa: E402
from voicebot.scenarios.line import caller_voice  # noqa: E402
from voicebot.server.metrics import describe_ms  # noqa: E402


def summary(name: str, results: list[LevelResult]) -> str:
    replies = describe_ms([ms for r in results for ms in r.latencies_ms])
    greetings = describe_ms([ms for r in results for ms in r.greetings_ms])
    calls = sum(r.calls for r in results)
    failed = sum(r.failed_calls for r in results)
    unanswered = sum(r.unanswered for r in results)
    underruns = sum(r.underruns for r in results)
    cores = sum(r.cpu_cores or 0 for r in results)
    return (
        f"{name:<28} calls {calls:>3}  reply p50 {replies['p50_ms']:>5.0f} ms  p95 {replies['p95_ms']:>5.0f} ms"
        f"  greeting p50 {greetings['p50_ms']:>4.0f} ms  unanswered {unanswered}  failed {failed}"
        f"  underruns {underruns}  server cores {cores:.2f}"
    )


async def halves(
    a: ServerProcess, b: ServerProcess, calls: int, voice: Voice, options: BenchOptions
) -> list[LevelResult]:
    return list(
        await asyncio.gather(
            run_level("voicebot", a.ws_url, a.http_url, calls // 2, voice, options, a),
            run_level("voicebot", b.ws_url, b.http_url, calls - calls // 2, voice, options, b),
        )
    )


async def bench(calls: int) -> None:
    voice = await asyncio.to_thread(caller_voice)
    options = BenchOptions(levels=[calls])
    with voicebot_server() as one:
        alone = await run_level("voicebot", one.ws_url, one.http_url, calls, voice, options, one)
    print(summary("one node, SQLite", [alone]))

    with voicebot_server() as a, voicebot_server() as b:
        print(summary("two nodes, SQLite each", list(await halves(a, b, calls, voice, options))))

    postgres, redis = PostgresServer(), RedisServer()
    try:
        url = postgres.new_database()
        env = {"VOICEBOT_STORE__URL": url, "VOICEBOT_EVENTS__URL": redis.url}
        with voicebot_server(env=env) as a, voicebot_server(env=env) as b:
            shared = await halves(a, b, calls, voice, options)
            await asyncio.sleep(3)  # the last notes leave the outbox
            with psycopg.connect(url) as db:
                calls_stored = db.execute("SELECT count(*) FROM calls WHERE outcome IS NOT NULL").fetchone()[0]
                outbox = dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        print(summary("two nodes, PostgreSQL+Redis", list(shared)))
        print(f"  PostgreSQL: {calls_stored} finished call records; outbox {outbox}")
    finally:
        postgres.close()
        redis.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=24, help="calls at once, in both set-ups")
    args = parser.parse_args()
    asyncio.run(bench(args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
