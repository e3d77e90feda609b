"""Cut-offs and waits per end-of-turn rule, on the turn material (see voicebot/bench/turn_end.py).

python benchmarks/turn_end.py [--part dev|test] [--grid] [--cache FILE] [--kept-secs S]

The development part is spoken by four voices, the sealed test part by six
others; thresholds are chosen with --grid on dev only, then test is measured.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import replace
from pathlib import Path

from voicebot.bench.turn_end import (
    Judge,
    Rule,
    demo_flow,
    fixed_stop,
    load_material,
    render,
    smart_turn_only,
    summarise,
)
from voicebot.bench.understanding import caller_voices
from voicebot.config import Settings
from voicebot.intents import IntentRouter
from voicebot.pipeline.smart_turn import SmartTurn
from voicebot.pipeline.stt import create_decoder
from voicebot.pipeline.turns import PAUSE_KEPT_SECS, TurnPolicy
from voicebot.pipeline.vad import VoiceDetectors

ROOT = Path(__file__).resolve().parents[1]
VOICES = {
    "dev": ["piper-1.0", "piper-1.2-varied", "espeak-en-us-175", "espeak-en-gb-scotland-140"],
    "test": [
        "piper-0.85-fast",
        "piper-1.4-slow",
        "espeak-en-gb-x-rp-190",
        "espeak-en-029-160",
        "espeak-en-us-nyc-210",
        "espeak-en-gb-150",
    ],
}
BARS = [0.3, 0.5, 0.7, 1.0]
COLUMNS = (
    ["rule", "short_cut", "short_p50", "short_p95", "sentence_cut", "sentence_p50", "sentence_p95"]
    + [f"paused_{b:.1f}" for b in BARS]
    + ["unheard"]
)


def judged(part: str, cache: Path | None, kept_secs: float) -> list:
    if cache and cache.exists():
        return pickle.loads(cache.read_bytes())
    settings = Settings()
    router = IntentRouter.load(None, settings.dialogue.intent_threshold, settings.dialogue.embedder)
    judge = Judge(
        create_decoder(settings.stt),
        demo_flow(router),
        SmartTurn(),
        VoiceDetectors(settings.vad).params,
        settings.turn.look_secs,
        kept_secs,
    )
    material = load_material(ROOT / f"benchmarks/data/turns/{part}.tsv")
    voices = [v for v in caller_voices() if v.name in VOICES[part]]
    renderings, started = [], time.perf_counter()
    for voice in voices:
        for m in material:
            renderings.append(judge.analyse(m, voice.name, render(m, voice.speak, voice.noise_dbfs)))
    print(f"{len(renderings)} renderings judged in {time.perf_counter() - started:.0f} s")
    if cache:
        cache.write_bytes(pickle.dumps(renderings))
    return renderings


def rules(grid: bool) -> list[Rule]:
    shipped = TurnPolicy.from_settings(Settings().turn)
    found = [
        fixed_stop(0.5),
        Rule("voicebot before (0.5 s, 0.8 s trailing)", lambda p: 0.8 if p.shape == "unfinished" else 0.5),
        smart_turn_only(),
        Rule.from_policy("shipped, Smart Turn off", shipped, smart_turn=False),
        Rule.from_policy("shipped + brief answers at 0.25 s", replace(shipped, brief_secs=0.25), smart_turn=False),
        Rule.from_policy("shipped", shipped, smart_turn=True),
    ]
    if grid:
        for brief in (0.2, 0.25, 0.3, 0.35):
            found.append(Rule.from_policy(f"brief {brief}", replace(shipped, brief_secs=brief), smart_turn=False))
        for answer in (0.3, 0.35, 0.4, 0.45, 0.5):
            for hold in (0.8, 0.9, 1.1):
                for threshold in (None, 0.5, 0.7, 0.9):
                    policy = replace(shipped, answer_secs=answer, hold_secs=hold, complete_threshold=threshold or 1)
                    name = f"answer {answer} hold {hold} " + (f"ST>={threshold}" if threshold else "no ST")
                    found.append(Rule.from_policy(name, policy, smart_turn=threshold is not None))
    return found


def cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    return "-" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["dev", "test"], default="dev")
    parser.add_argument("--grid", action="store_true", help="try a grid of waits (dev only)")
    parser.add_argument("--cache", type=Path, help="keep the judgements here and reuse them")
    parser.add_argument("--show", action="store_true", help="print each pause's transcript and judgement")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--kept-secs",
        type=float,
        default=PAUSE_KEPT_SECS,
        help="of each pause, heard with the turn (a look made sooner would hear less)",
    )
    args = parser.parse_args()
    if args.grid and args.part == "test":
        parser.error("the test part is sealed: tune on --part dev")
    renderings = judged(args.part, args.cache, args.kept_secs)
    if args.show:
        for r in renderings:
            for p in r.pauses:
                print(f"{r.voice:26} {r.material.text:45} {p.text!r:40} {p.shape:10} {p.complete:.2f} bar={p.at_bar}")
    rows = [summarise(renderings, rule, BARS) for rule in rules(args.grid)]
    print("waits in ms past the last loud sample; cut = cut-offs / renderings")
    print("  ".join(c.ljust(44 if c == "rule" else 12) for c in COLUMNS))
    for row in rows:
        print("  ".join(cell(row[c]).ljust(44 if c == "rule" else 12) for c in COLUMNS))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
