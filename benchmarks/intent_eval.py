"""How often the bot understands callers: the sealed test part, from text and from speech, per caller voice.

python benchmarks/intent_eval.py                 # sealed test part: text, then speech in every voice
python benchmarks/intent_eval.py --part dev      # the development part (the only one to tune on)
python benchmarks/intent_eval.py --fit           # fit the router's calibration on both development parts
python benchmarks/intent_eval.py --text-only --embedder none   # the keyword router alone, for comparison
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from voicebot.bench.understanding import (
    caller_voices,
    expected_calibration_error,
    fit_calibration,
    held_out,
    load_labelled,
    menu_hint,
    pooled,
    score_speech,
    score_text,
)
from voicebot.config import STTSettings
from voicebot.intents import EMBEDDERS, IntentRouter
from voicebot.pipeline.stt import create_decoder
from voicebot.server.metrics import describe_ms

DATA = Path(__file__).resolve().parent / "data" / "intents"


def report(score, show_misses: bool) -> None:
    line = (
        f"{score.name:28} n={len(score.outcomes):4}  right {score.accuracy:6.1%}  in scope {score.in_scope:6.1%}"
        f"  out of scope refused {score.out_of_scope_refused:6.1%}"
    )
    if score.words:
        t = describe_ms([s * 1000 for s in score.stt_seconds])
        line += f"  WER {score.wer:6.2%}  STT p50 {t['p50_ms']} ms"
    print(line, flush=True)
    if show_misses:
        for o in score.misses:
            print(f"    {o.said.intent:12} -> {o.got:12} {o.confidence:.2f}  {o.said.text!r} heard {o.heard!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["dev", "dev2", "dev3", "test"], default="test")
    parser.add_argument("--embedder", choices=[*EMBEDDERS, "none"], default="use-multilingual-v3")
    parser.add_argument("--text-only", action="store_true")
    parser.add_argument("--voices", help="comma-separated voice names (default: all)")
    parser.add_argument("--model", type=Path, help="CTranslate2 Whisper directory (default: the bundled one)")
    parser.add_argument("--bundled-model", choices=["tiny.en", "base"], default="tiny.en")
    parser.add_argument("--beam-size", type=int, default=1, help="Whisper's beam (stt.beam_size; 1 is greedy)")
    parser.add_argument("--no-hints", action="store_true", help="transcribe without the prompt's hint (stt.hints off)")
    parser.add_argument("--fit", action="store_true", help="fit the calibration on the development parts")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    if args.fit:  # never on the sealed test part
        development = [r for part in ("dev", "dev2", "dev3") for r in load_labelled(DATA / f"{part}.tsv")]
        print(f"fitted on {len(development)} development answers, held out:", fit_calibration(development))
        report(held_out(development), False)
        return 0
    rows = load_labelled(DATA / f"{args.part}.tsv")
    started = time.perf_counter()
    router = IntentRouter.load(embedder=None if args.embedder == "none" else args.embedder)
    loaded = time.perf_counter() - started
    print(f"router: {args.embedder}, loaded in {loaded:.2f} s; part: {args.part}, {len(rows)} answers")
    text = score_text(router, rows)
    report(text, args.show_misses)
    print(f"  calibration error (ECE, 5 bins) {expected_calibration_error(text.outcomes):.3f}")
    if args.text_only:
        return 0
    settings = STTSettings(model=args.model, bundled_model=args.bundled_model, beam_size=args.beam_size)
    decoder = create_decoder(settings)
    hint = None if args.no_hints else menu_hint(router)
    print(f"STT: {settings.model or settings.bundled_model}, {settings.window} window; hint: {hint!r}")
    transcribe = lambda audio: " ".join(t for t, _ in decoder.transcribe(audio, hint)).strip()  # noqa: E731
    wanted = set(args.voices.split(",")) if args.voices else None
    scores = []
    for voice in caller_voices():
        if wanted is None or voice.name in wanted:
            scores.append(score_speech(router, rows, voice, transcribe))
            report(scores[-1], args.show_misses)
    report(pooled("speech, every voice", scores), False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
