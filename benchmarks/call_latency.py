"""Per-call timing at the caller's end, against a running server.

Places sequential Twilio-behaving calls and prints, per call: greeting delay
(stream start -> first non-silent bot audio received) and, per spoken turn,
response latency (end of the caller's speech in the audio sent -> first
non-silent bot audio of the reply). The full benchmark (concurrency, baseline,
plots) is issue 6; this is the foundation's measurement.

    python benchmarks/call_latency.py --url ws://127.0.0.1:8080/twilio/media --calls 5 [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from voicebot.caller import TwilioCaller
from voicebot.pipeline.tts import Voice, default_voice_path

TURNS = ["What is the status of my case?", "Can you repeat that?", "No thanks, that's all."]


async def one_call(url: str, voice: Voice) -> tuple[float, list[float]]:
    async with TwilioCaller(url, caller="+14155552671") as call:
        await call.wait_for_prompts(1, timeout=30)
        greeting = call.prompts[0].first_audio_at - call.started_at
        latencies = []
        for n, text in enumerate(TURNS, start=2):
            await call.say(voice.synthesize(text))
            ended = call.speech_ended_at
            await call.wait_for_prompts(n, timeout=40)
            latencies.append(call.prompts[n - 1].first_audio_at - ended)
        await call.wait_closed(20)
    return greeting, latencies


async def main(args: argparse.Namespace) -> None:
    voice = Voice(default_voice_path(), length_scale=1.2, noise_scale=0.8)
    greetings, turns = [], []
    for batch in range(args.calls):
        results = await asyncio.gather(*(one_call(args.url, voice) for _ in range(args.concurrency)))
        for i, (greeting, latencies) in enumerate(results):
            greetings.append(greeting)
            turns += latencies
            spoken = ", ".join(f"{x * 1000:.0f} ms" for x in latencies)
            print(f"call {batch + 1}.{i + 1}: greeting {greeting * 1000:.0f} ms; turns {spoken}")
    median, worst = statistics.median(greetings) * 1000, max(greetings) * 1000
    print(f"greeting delay: median {median:.0f} ms, max {worst:.0f} ms (n={len(greetings)})")
    median, worst = statistics.median(turns) * 1000, max(turns) * 1000
    print(f"turn latency:   median {median:.0f} ms, max {worst:.0f} ms (n={len(turns)})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="ws://127.0.0.1:8080/twilio/media")
    parser.add_argument("--calls", type=int, default=3, help="rounds of calls")
    parser.add_argument("--concurrency", type=int, default=1, help="calls at once in each round")
    asyncio.run(main(parser.parse_args()))
