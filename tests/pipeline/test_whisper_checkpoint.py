"""The openai-whisper engine, on a checkpoint converted from the bundled CTranslate2 tiny.en."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot.bench.wer import edit_distance, over_the_phone, words
from voicebot.pipeline.model_files import ModelFileError
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
    """The same weights hear the same words; Piper's delivery varies per run, so one word may slip."""
    checkpoint = write_checkpoint(default_model_path(), tmp_path / "tiny.en.pt")
    said = "I would like to talk to a person, please."
    audio = over_the_phone(caller_voice.synthesize(said), None)
    reference = OpenAIWhisperDecoder(checkpoint, cpu_threads=2)
    [(ours, _)] = FittedWindowDecoder(whisper).transcribe(audio)
    theirs = " ".join(text for text, _ in reference.transcribe(audio))
    assert edit_distance(words(said), words(ours)) <= 1, ours
    assert edit_distance(words(said), words(theirs)) <= 1, theirs


def test_a_missing_checkpoint_names_the_setting_and_the_fix(tmp_path):
    with pytest.raises(ModelFileError, match="stt.openai_checkpoint: .* voicebot models openai-whisper"):
        OpenAIWhisperDecoder(tmp_path / "nope.pt", cpu_threads=1)
