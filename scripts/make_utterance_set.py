"""Build tests/data/utterances.tsv: hand-written phrasings plus what Whisper tiny.en really hears.

Each phrasing in tests/data/phrasings.tsv is spoken by the caller voice (Piper,
slower and more varied than the bot's), sent through the telephone path (8 kHz,
mu-law, back to 16 kHz) and transcribed by the bundled tiny.en exactly as on a
call. The transcripts, misrecognitions included, become labelled utterances.

Run: python scripts/make_utterance_set.py
"""

from __future__ import annotations

import audioop
from pathlib import Path

import numpy as np
import soxr

from voicebot.config import STTSettings
from voicebot.pipeline.stt import load_whisper
from voicebot.pipeline.tts import Voice, default_voice_path

ROOT = Path(__file__).resolve().parent.parent
PHRASINGS = ROOT / "tests/data/phrasings.tsv"
OUT = ROOT / "tests/data/utterances.tsv"


def main() -> None:
    whisper = load_whisper(STTSettings())
    voices = [
        Voice(default_voice_path(), length_scale=1.2, noise_scale=0.8),
        Voice(default_voice_path(), length_scale=0.9, noise_scale=0.9),
    ]
    rows = [line.split("\t") for line in PHRASINGS.read_text().splitlines() if line and not line.startswith("#")]
    out = ["# intent\tutterance\tsource"]
    for i, (intent, text) in enumerate(rows):
        out.append(f"{intent}\t{text}\twritten")
        pcm = voices[i % 2].synthesize(text)
        line = audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)  # the telephone codec
        audio = np.frombuffer(line, dtype=np.int16).astype(np.float32) / 32768
        segments, _ = whisper.transcribe(soxr.resample(audio, 8000, 16000), language="en", beam_size=1)
        heard = " ".join(s.text.strip() for s in segments).strip()
        if heard:
            out.append(f"{intent}\t{heard}\ttiny.en")
    OUT.write_text("\n".join(out) + "\n")
    print(f"wrote {len(out) - 1} utterances to {OUT}")


if __name__ == "__main__":
    main()
