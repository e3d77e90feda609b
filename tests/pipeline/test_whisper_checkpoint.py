"""The openai-whisper engine, on a checkpoint converted from the bundled CTranslate2 tiny.en."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.bench.wer import over_the_phone
from voicebot.pipeline.stt import FittedWindowDecoder, OpenAIWhisperDecoder, default_model_path
from voicebot.pipeline.whisper_checkpoint import openai_state, read_ct2, write_checkpoint

openai_whisper = pytest.importorskip("whisper", reason="the openai-whisper extra (CI installs it)")


@pytest.fixture(scope="module")
def ct2():
    return read_ct2(default_model_path() / "model.bin")


def test_every_weight_of_the_openai_model_is_filled_with_the_right_shape(ct2):
    dims, state = openai_state(ct2)
    model = openai_whisper.model.Whisper(openai_whisper.model.ModelDimensions(**dims))
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    assert {name: value.shape for name, value in state.items()} == expected
    assert dims["n_audio_layer"] == dims["n_text_layer"] == 4 and dims["n_vocab"] == 51864


def test_fused_projections_are_split_in_order(ct2):
    _, state = openai_state(ct2)
    fused = ct2["decoder/layer_2/attention/linear_1/weight"].astype(np.float32)
    half = fused.shape[0] // 2
    assert np.array_equal(state["decoder.blocks.2.cross_attn.key.weight"], fused[:half])
    assert np.array_equal(state["decoder.blocks.2.cross_attn.value.weight"], fused[half:])


def test_both_engines_transcribe_the_same_call_audio(tmp_path, whisper, caller_voice):
    checkpoint = write_checkpoint(default_model_path(), tmp_path / "tiny.en.pt")
    audio = over_the_phone(caller_voice.synthesize("I would like to talk to a person, please."), None)
    reference = OpenAIWhisperDecoder(checkpoint, cpu_threads=2)
    faster = FittedWindowDecoder(whisper)
    [(ours, _)] = faster.transcribe(audio)
    theirs = " ".join(text for text, _ in reference.transcribe(audio))
    assert ours == theirs == "I would like to talk to a person, please."


def test_a_missing_checkpoint_names_the_setting_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="stt.openai_checkpoint: .* voicebot models openai-whisper"):
        OpenAIWhisperDecoder(tmp_path / "nope.pt", cpu_threads=1)
