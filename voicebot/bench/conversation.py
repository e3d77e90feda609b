"""The benchmark's call: the demo customer Jane asks for her case's status, a repeat, then says goodbye."""

from __future__ import annotations

from voicebot.scenarios.model import Call, Turn

CALLER = "+14155552671"
SAID = ("What is the status of my case?", "Can you repeat that?", "No thanks, that's all.")


def bench_call(number: int) -> Call:
    return Call(
        name=f"bench call {number}",
        ani=CALLER,
        turns=[Turn(), *(Turn(say=text) for text in SAID)],
        timeout_secs=180,
    )
