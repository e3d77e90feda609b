"""Premature turn ends and the wait they cost, per end-of-turn rule (see voicebot/bench/turn_end.py).

python benchmarks/turn_end.py [--noise-dbfs -40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from voicebot.bench.turn_end import Outcome, analyse, turn_rule
from voicebot.bench.wer import load_texts, over_the_phone
from voicebot.config import Settings
from voicebot.metrics import describe_ms
from voicebot.pipeline.stt import create_decoder
from voicebot.pipeline.vad import create_vad_analyzer
from voicebot.scenarios.line import caller_voice

ROOT = Path(__file__).resolve().parents[1]
STOPS = [0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6]


def pausing_sentences() -> list[str]:
    lines = (ROOT / "benchmarks/data/pausing_sentences.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def row(name: str, outcomes: list[Outcome]) -> str:
    cut = sum(o.cut_off for o in outcomes)
    waits = [o.wait_secs * 1000 for o in outcomes if o.wait_secs is not None]
    t = describe_ms(waits)
    return f"{name:34} {cut:3}/{len(outcomes):<3}  {t['p50_ms']:6.0f}  {t['p95_ms']:6.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noise-dbfs", type=float, help="line hiss level (default: none)")
    parser.add_argument("--takes", type=int, default=3, help="renderings of each pausing sentence (default 3)")
    parser.add_argument("--unfinished-secs", type=float, default=Settings().turn.unfinished_secs)
    args = parser.parse_args()
    settings = Settings()
    decoder = create_decoder(settings.stt)
    vad = create_vad_analyzer(settings.vad).params
    voice = caller_voice(cache_size=0)  # Piper renders pauses differently every time
    sets = {"pausing": pausing_sentences() * args.takes, "plain": load_texts(ROOT)}
    tail = np.zeros(16000, np.float32)  # the caller waits for the answer
    for name, texts in sets.items():
        sentences = [
            analyse(
                t,
                np.concatenate([over_the_phone(voice.synthesize(t), args.noise_dbfs), tail]),
                decoder,
                vad,
                settings.turn.look_secs,
                STOPS,
            )
            for t in texts
        ]
        print(f"\n{name}: {len(texts)} renderings   {'rule':21} cut off  wait p50  p95 (ms past the last loud sample)")
        for stop in STOPS:
            print(row(f"VAD stop {stop:.2f} s", [turn_rule(s, stop) for s in sentences]))
            print(
                row(
                    f"  + unfinished text waits {args.unfinished_secs:.2f} s",
                    [turn_rule(s, stop, args.unfinished_secs) for s in sentences],
                )
            )


if __name__ == "__main__":
    main()
