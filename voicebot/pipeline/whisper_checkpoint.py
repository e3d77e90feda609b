"""An openai-whisper checkpoint built from a CTranslate2 Whisper model, layer by layer.

openai-whisper downloads its checkpoints at run time, which a machine without
internet cannot do. The bundled tiny.en (faster-whisper's CTranslate2 format)
holds the same weights under other names, with each attention block's query,
key and value fused into one matrix; this module reads ``model.bin`` and
writes the ``{"dims", "model_state_dict"}`` file ``whisper.load_model`` reads.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path: Path) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 ``model.bin`` (format version 6), aliases resolved."""
    with open(path, "rb") as f:
        version = _unpack(f, "I")
        if version != 6:
            raise ValueError(f"{path}: CTranslate2 model format {version}, expected 6")
        _string(f)  # spec name
        _unpack(f, "I")  # spec revision
        variables: dict[str, np.ndarray] = {}
        for _ in range(_unpack(f, "I")):
            name = _string(f)
            shape = [_unpack(f, "I") for _ in range(_unpack(f, "B"))]
            dtype = _unpack(f, "B")
            if dtype not in _DTYPES:
                raise ValueError(
                    f"{path}: {name} has CTranslate2 type {dtype}; convert the model to float16 or float32"
                )
            data = f.read(_unpack(f, "I"))
            variables[name] = np.frombuffer(data, dtype=_DTYPES[dtype]).reshape(shape)
        for _ in range(_unpack(f, "I")):
            alias, target = _string(f), _string(f)
            variables[alias] = variables[target]
    return variables


def _unpack(f: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]


def _string(f: BinaryIO) -> str:
    return f.read(_unpack(f, "H"))[:-1].decode()


def openai_state(ct2: dict[str, np.ndarray]) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """(dims, state dict) of the openai-whisper model holding the same weights, as float32 arrays."""
    encoder_layers = _count(ct2, "encoder/layer_")
    decoder_layers = _count(ct2, "decoder/layer_")
    dims = {
        "n_mels": int(ct2["encoder/conv1/weight"].shape[1]),
        "n_vocab": int(ct2["decoder/embeddings/weight"].shape[0]),
        "n_audio_ctx": int(ct2["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(ct2["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(ct2["encoder/num_heads"]),
        "n_audio_layer": encoder_layers,
        "n_text_ctx": int(ct2["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(ct2["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(ct2["decoder/num_heads"]),
        "n_text_layer": decoder_layers,
    }
    state: dict[str, np.ndarray] = {}

    def put(name: str, value: np.ndarray) -> None:
        state[name] = np.asarray(value, dtype=np.float32)

    def linear(ours: str, theirs: str, bias: bool = True) -> None:
        put(f"{ours}.weight", ct2[f"{theirs}/weight"])
        if bias:
            put(f"{ours}.bias", ct2[f"{theirs}/bias"])

    def norm(ours: str, theirs: str) -> None:
        put(f"{ours}.weight", ct2[f"{theirs}/gamma"])
        put(f"{ours}.bias", ct2[f"{theirs}/beta"])

    def fused(ours: list[str], theirs: str) -> None:
        """Split a fused projection (query/key/value, or key/value) back into its parts; keys have no bias."""
        weights = np.split(ct2[f"{theirs}/weight"], len(ours))
        biases = np.split(ct2[f"{theirs}/bias"], len(ours))
        for name, weight, bias in zip(ours, weights, biases, strict=True):
            put(f"{name}.weight", weight)
            if not name.endswith(".key"):
                put(f"{name}.bias", bias)

    def block(ours: str, theirs: str, cross: bool) -> None:
        fused([f"{ours}.attn.query", f"{ours}.attn.key", f"{ours}.attn.value"], f"{theirs}/self_attention/linear_0")
        linear(f"{ours}.attn.out", f"{theirs}/self_attention/linear_1")
        norm(f"{ours}.attn_ln", f"{theirs}/self_attention/layer_norm")
        if cross:
            linear(f"{ours}.cross_attn.query", f"{theirs}/attention/linear_0")
            fused([f"{ours}.cross_attn.key", f"{ours}.cross_attn.value"], f"{theirs}/attention/linear_1")
            linear(f"{ours}.cross_attn.out", f"{theirs}/attention/linear_2")
            norm(f"{ours}.cross_attn_ln", f"{theirs}/attention/layer_norm")
        linear(f"{ours}.mlp.0", f"{theirs}/ffn/linear_0")
        linear(f"{ours}.mlp.2", f"{theirs}/ffn/linear_1")
        norm(f"{ours}.mlp_ln", f"{theirs}/ffn/layer_norm")

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    put("encoder.positional_embedding", ct2["encoder/position_encodings/encodings"])
    for i in range(encoder_layers):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", cross=False)
    norm("encoder.ln_post", "encoder/layer_norm")
    put("decoder.token_embedding.weight", ct2["decoder/embeddings/weight"])
    put("decoder.positional_embedding", ct2["decoder/position_encodings/encodings"])
    for i in range(decoder_layers):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", cross=True)
    norm("decoder.ln", "decoder/layer_norm")
    return dims, state


def _count(ct2: dict[str, np.ndarray], prefix: str) -> int:
    indices = {name[len(prefix) :].split("/")[0] for name in ct2 if name.startswith(prefix)}
    return sum(index.isdigit() for index in indices)  # "layer_norm" shares the prefix


def write_checkpoint(model_dir: Path, out: Path) -> Path:
    """Convert ``model_dir/model.bin`` into an openai-whisper checkpoint at ``out`` (needs torch)."""
    import torch

    dims, state = openai_state(read_ct2(model_dir / "model.bin"))
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"dims": dims, "model_state_dict": {k: torch.from_numpy(v) for k, v in state.items()}}, out)
    return out
