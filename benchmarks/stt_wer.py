"""Word error rate and speed of the STT decoders on 8 kHz telephone speech (see voicebot/bench/wer.py).

python benchmarks/stt_wer.py [--noise-dbfs -40] [--bundled-model base]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from voicebot.bench.wer import load_texts, measure
from voicebot.config import STTSettings
from voicebot.pipeline.stt import DECODERS, OpenAIWhisperDecoder, default_model_path, load_whisper
from voicebot.pipeline.whisper_checkpoint import write_checkpoint
from voicebot.scenarios.line import caller_voice
from voicebot.server.metrics import describe_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--noise-dbfs", type=float, help="line hiss level (default: none)")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--bundled-model", choices=["tiny.en", "base"], default="tiny.en")
    parser.add_argument(
        "--openai-whisper", metavar="CHECKPOINT.pt", help="also the openai-whisper engine, converted to this file"
    )
    args = parser.parse_args()
    model = load_whisper(STTSettings(bundled_model=args.bundled_model))
    print(f"model: {args.bundled_model}")
    decoders = {name: make(model) for name, make in DECODERS.items()}
    if args.openai_whisper:
        checkpoint = write_checkpoint(default_model_path(), Path(args.openai_whisper))
        decoders["openai-whisper"] = OpenAIWhisperDecoder(checkpoint, cpu_threads=2)
    texts = load_texts(Path(__file__).resolve().parents[1])
    results, mistakes = measure(decoders, caller_voice(), texts, args.noise_dbfs)
    line = "clean line" if args.noise_dbfs is None else f"hiss at {args.noise_dbfs:g} dBFS"
    print(f"{len(texts)} utterances, {results[0].words} words, 8 kHz mu-law, 300-3400 Hz, {line}")
    for r in results:
        t = describe_ms([s * 1000 for s in r.seconds])
        print(
            f"{r.decoder:14}  WER {r.wer:6.2%} ({r.errors}/{r.words})  time p50 {t['p50_ms']} ms  p95 {t['p95_ms']} ms"
        )
    if args.show_errors:
        for name, text, heard in mistakes:
            print(f"  {name}: {text!r} -> {heard!r}")


if __name__ == "__main__":
    main()
