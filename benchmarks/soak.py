"""Load at twice capacity, then a soak of continuous calls with memory, descriptor and thread trends.

python benchmarks/soak.py [--max-calls 12] [--factor 2] [--minutes 10] [--concurrent 8] [--json FILE]

Exits 1 if a call beyond capacity was not refused cleanly, an admitted call
went wrong, the server logged an error, or memory, descriptors or threads grew
without bound (see voicebot/bench/soak.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path

from voicebot.bench.run import voicebot_server
from voicebot.bench.soak import bounded, overload, soak
from voicebot.scenarios.line import caller_voice

LOG_ALARMS = ("Traceback", " ERROR ", "Exception")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-calls", type=int, default=12, help="the server's limits.max_calls")
    parser.add_argument("--factor", type=float, default=2.0, help="calls placed at once, as a multiple of it")
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length")
    parser.add_argument("--concurrent", type=int, default=8, help="calls kept going during the soak")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    voice = caller_voice(cache_size=1024)
    env = {"VOICEBOT_LIMITS__MAX_CALLS": str(args.max_calls), "VOICEBOT_LOG_LEVEL": "INFO"}
    with voicebot_server(env=env) as server:
        load = asyncio.run(overload(server, args.max_calls, args.factor, voice))
        print(
            f"overload: {load.placed} calls at once against max_calls {args.max_calls}: "
            f"{load.admitted} admitted ({load.admitted_ok} as good as alone), {load.refused} refused with 1013 "
            f"(server counted {load.refused_counted})"
        )
        result = asyncio.run(soak(server, args.minutes, args.concurrent, voice))
        log = server.log_path.read_text()
    checks = bounded(result)
    alarms = [line for line in log.splitlines() if any(a in line for a in LOG_ALARMS)]
    print(f"soak: {result.calls} calls in {args.minutes:g} min, {args.concurrent} at a time, {result.failed} failed")
    print(f"{'t s':>6} {'RSS MB':>7} {'fds':>5} {'threads':>7} {'calls':>5}")
    for s in result.samples:
        print(f"{s.at_secs:6.0f} {s.rss_mb:7.1f} {s.fds:5d} {s.threads:7d} {s.active_calls:5d}")
    print(f"settled: RSS {result.settled.rss_mb} MB, {result.settled.fds} fds, {result.settled.threads} threads")
    for key, value in checks.items():
        print(f"  {key}: {value}")
    print(f"server log lines with errors: {len(alarms)}")
    for line in alarms[:10]:
        print("   ", line[:200])
    for problem in (load.problems + result.problems)[:20]:
        print("  problem:", problem)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {"overload": asdict(load), "soak": asdict(result), "checks": checks, "log_alarms": alarms}, indent=2
            )
        )
    ok = (
        load.refused == load.placed - args.max_calls == load.refused_counted
        and load.admitted_ok == load.admitted
        and result.failed == 0
        and not alarms
        and checks["rss_bounded"]
        and checks["fds_returned"]
        and checks["threads_returned"]
    )
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
