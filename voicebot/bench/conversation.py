"""The benchmark's calls.

``classic``: the demo customer Jane asks for her case's status, a repeat, then
says goodbye, in one Piper voice: every reply a cache hit, the issue-6 figure.

``callers``: what real callers do to a turn taker. Each call is a different
customer (imported into the server's CRM before it starts, so the status
replies are not all cached), a different voice (Piper at several lengths and
espeak-ng accents, each with its own line), and three answers from the turn
material (``benchmarks/data/turns``, sealed test part by default): one the bot
answers and waits again on, one with a 0.3-1.0 s pause after its unfinished
first half, and one that ends the call.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from voicebot.scenarios.line import Speaker
from voicebot.scenarios.model import Call, Line, Turn

CALLER = "+14155552671"
SAID = ("What is the status of my case?", "Can you repeat that?", "No thanks, that's all.")
MATERIAL = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "turns"
PAUSES = (0.3, 0.5, 0.7, 1.0)
Mix = Literal["classic", "callers"]


def bench_call(number: int) -> Call:
    return Call(
        name=f"bench call {number}",
        ani=CALLER,
        turns=[Turn(), *(Turn(say=text) for text in SAID)],
        timeout_secs=180,
    )


@dataclass
class BenchCall:
    """A call to place, who speaks it, and what kind each of its turns is (for latency per kind)."""

    call: Call
    voice: Speaker
    kinds: list[str] = field(default_factory=list)  # per turn after the greeting: short | sentence | paused


@dataclass(frozen=True)
class Customer:
    name: str
    phone: str
    case: str
    title: str
    status: str

    def record(self) -> dict:
        """In ``voicebot crm import`` shape."""
        return {
            "name": self.name,
            "phones": [self.phone],
            "cases": [{"number": self.case, "title": self.title, "status": self.status}],
        }


CUSTOMERS = [
    Customer(name, f"+1650555{7000 + n:04d}", f"CAS-{7100 + n:05d}", title, status)
    for n, (name, title, status) in enumerate(
        [
            ("Maria Gonzalez", "Modem will not sync", "In progress"),
            ("Tom Becker", "Refund for a double charge", "Waiting for details"),
            ("Aisha Khan", "Router drops every evening", "In progress"),
            ("Liam O'Brien", "Bill shows the wrong plan", "New"),
            ("Mei Chen", "Fibre installation appointment", "Scheduled"),
            ("Olu Adeyemi", "No dial tone on the landline", "In progress"),
            ("Sofia Rossi", "Wi-Fi extender keeps rebooting", "On hold"),
            ("Noah Levi", "Port my number from another carrier", "Waiting for details"),
        ]
    )
]


def crm_fixtures(path: Path) -> Path:
    path.write_text(json.dumps({"customers": [c.record() for c in CUSTOMERS]}))
    return path


@dataclass(frozen=True)
class Answer:
    kind: str
    text: str
    ends: bool  # the dialogue hands the call over or says goodbye on it


def answers(part: str = "test") -> list[Answer]:
    """The turn material, each item marked by whether the dialogue (at the menu) would end the call on it."""
    from voicebot.bench.turn_end import demo_flow, load_material
    from voicebot.config import Settings
    from voicebot.dialogue import Next
    from voicebot.intents import IntentRouter

    settings = Settings()
    router = IntentRouter.load(None, settings.dialogue.intent_threshold, settings.dialogue.embedder)
    flow = demo_flow(router)
    found = []
    for m in load_material(MATERIAL / f"{part}.tsv"):
        reply = asyncio.run(flow.preview(" ".join(m.pieces)))
        if reply.acts:  # a turn the dialogue re-asks would make the call go its own way
            found.append(Answer(m.kind, m.text, reply.next is not Next.LISTEN))
    return found


def caller_calls(count: int, voices: Sequence[tuple[Speaker, float | None]], part: str = "test") -> list[BenchCall]:
    """``count`` calls, customers and voices in turn, three answers each (see the module's docstring)."""
    pool = answers(part)
    going = itertools.cycle([a for a in pool if not a.ends and a.kind != "paused"])
    paused = itertools.cycle([a for a in pool if not a.ends and a.kind == "paused"])
    ending = itertools.cycle([a for a in pool if a.ends])
    pauses = itertools.cycle(PAUSES)
    calls = []
    for n in range(count):
        customer = CUSTOMERS[n % len(CUSTOMERS)]
        voice, noise = voices[n % len(voices)]
        chosen = [next(going), next(paused), next(ending)]
        turns = [Turn()] + [Turn(say=a.text.replace("|", f"[pause {next(pauses)}]")) for a in chosen]
        call = Call(
            name=f"bench caller {n}",
            ani=customer.phone,
            line=Line(noise_dbfs=noise, band_limit=True),
            turns=turns,
            timeout_secs=180,
        )
        calls.append(BenchCall(call, voice, [a.kind for a in chosen]))
    return calls
