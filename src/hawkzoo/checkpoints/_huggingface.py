"""HuggingFace's `RecurrentGemmaForCausalLM` (weights and `config.json`), to hawkzoo and back.

Its keys follow the official PyTorch layout renamed (`model.layers.i.temporal_block.…`),
with two arrays laid out anew: the MLP's `ffw_up` split into `gate_proj` and `up_proj`
(each a transposed half), and the convolution stored `[channels, 1, width]`.
"""

import dataclasses
import json
import os
import pathlib
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError
from ..model import LanguageModel, ModelConfig
from ._staging import copy_tokenizer, new_folder, tokenizer_file
from ._torch import from_torch, to_torch
from ._transformers_fit import adapt as adapt_arrays, check, restore

CONFIG_KEY = "hawkzoo_config"
"""hawkzoo's config in an exported `config.json`, read back on import. Among what it
restores: the window, since transformers' `attention_window_size` counts the token itself
and the official model's window does not (an export writes `window + 1` there)."""
HAWK_WINDOW = 2048
"""`attention_window_size` for a model without attention blocks, where it is unused."""
SHARD_BYTES = 5 * 2**30

# (official PyTorch key part, HuggingFace key part), applied in order.
_RENAMES = (
    ("embedder.input_embedding", "embed_tokens.weight"),
    ("final_norm.scale", "final_norm.weight"),
    ("temporal_pre_norm.scale", "temporal_pre_norm.weight"),
    ("channel_pre_norm.scale", "channel_pre_norm.weight"),
    ("recurrent_block.", "temporal_block."),
    ("attention_block.", "temporal_block."),
    ("proj_q.", "q_proj."),
    ("proj_k.", "k_proj."),
    ("proj_v.", "v_proj."),
    ("proj_final.", "o_proj."),
    ("rg_lru.a_param", "rg_lru.recurrent_param"),
    ("rg_lru.a_gate.w", "rg_lru.recurrent_gate_weight"),
    ("rg_lru.a_gate.b", "rg_lru.recurrent_gate_bias"),
    ("rg_lru.input_gate.w", "rg_lru.input_gate_weight"),
    ("rg_lru.input_gate.b", "rg_lru.input_gate_bias"),
    ("conv_1d.b", "conv_1d.bias"),
    ("ffw_down.", "down_proj."),
)
_SUPPORTED = {
    "num_key_value_heads": 1,
    "hidden_activation": "gelu_pytorch_tanh",
    "partial_rotary_factor": 0.5,
    "rope_theta": 10000.0,
}


def to_huggingface(
    model: LanguageModel, *, adapt: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The model as HuggingFace's `RecurrentGemmaForCausalLM`: its state dict (NumPy,
    `lm_head.weight` tied to the embedding) and its `config.json` fields, hawkzoo's own
    config among them (`CONFIG_KEY`).

    transformers computes what hawkzoo does with them, past the window too
    (`attention_window_size` is `window + 1`). A model it cannot represent raises an
    `InputError` naming each field that stands in the way: no soft-cap, no embedding
    scale, gate blocks other than one per head, complex gates, attention without a window.
    `adapt=True` writes equivalent arrays instead where they exist (see
    `hawkzoo.checkpoints._transformers_fit`): the same function to float rounding."""
    check(model.config, adapt)
    state_dict = {}
    for key, value in to_torch(model).items():
        key = _hf_key(key)
        if key.endswith("ffw_up.w"):
            stem = key.removesuffix("ffw_up.w")
            state_dict[stem + "gate_proj.weight"], state_dict[stem + "up_proj.weight"] = (
                value[0].T,
                value[1].T,
            )
        elif key.endswith("ffw_up.b"):
            stem = key.removesuffix("ffw_up.b")
            state_dict[stem + "gate_proj.bias"], state_dict[stem + "up_proj.bias"] = value[:, 0, 0]
        elif key.endswith("conv_1d.w"):
            state_dict[key.removesuffix(".w") + ".weight"] = value.T[:, None, :]
        else:
            state_dict[key] = value
    state_dict = {"model." + key: np.ascontiguousarray(value) for key, value in state_dict.items()}
    state_dict["lm_head.weight"] = state_dict["model.embed_tokens.weight"]
    hf_config = _hf_config(model.config)
    adapt_arrays(state_dict, hf_config, model.config)
    return state_dict, hf_config


def from_huggingface(
    state_dict: Mapping[str, Any],
    hf_config: Mapping[str, Any] | None = None,
    config: ModelConfig | None = None,
    **fields,
) -> LanguageModel:
    """A hawkzoo model from HuggingFace `RecurrentGemmaForCausalLM` weights.

    `hf_config` (its `config.json` as a dict) gives the window, the soft-cap and the
    embedding scale, and is checked for what hawkzoo does not implement (more than one
    key/value head, another activation or rotary fraction); without it they come from a
    matching preset or `fields`. Its `attention_window_size` is read as the official
    model's window, as the released checkpoints mean it (HuggingFace's own model attends
    to that many keys, the token included, where the official one and hawkzoo attend to
    `window + 1`). A config hawkzoo exported holds hawkzoo's own (`CONFIG_KEY`): the
    model comes back as it was, an adapted export's arrays restored.
    """
    if hf_config is not None:
        for name, value in _SUPPORTED.items():
            if hf_config.get(name, value) != value:
                raise InputError(
                    f"the HuggingFace config has {name}={hf_config[name]!r}; hawkzoo "
                    f"implements {name}={value!r} only"
                )
        saved = hf_config.get(CONFIG_KEY)
        if saved is not None:
            config = dataclasses.replace(config or ModelConfig(**saved), **fields)
            state_dict, fields = restore(state_dict, config), {}
        else:
            fields = {
                "attention_window": hf_config.get("attention_window_size"),
                "logits_soft_cap": hf_config.get("logits_soft_cap"),
                "embedding_scale": hf_config.get("embeddings_scale_by_sqrt_dim", True),
            } | fields
    return from_torch(_torch_state_dict(state_dict), config, **fields)


def save_huggingface(
    path: str | os.PathLike,
    model: LanguageModel,
    *,
    tokenizer: str | os.PathLike | None = None,
    adapt: bool = False,
    shard_bytes: int = SHARD_BYTES,
) -> pathlib.Path:
    """Write `model` as a HuggingFace folder that `RecurrentGemmaForCausalLM.from_pretrained`
    and [`load`][hawkzoo.checkpoints.load] read: `config.json`, safetensors files of at most
    `shard_bytes` each (with `model.safetensors.index.json` when there are several; a tied
    output embedding is not stored), and the SentencePiece `tokenizer` file, if given, as
    `tokenizer.model`.

    The folder is written beside `path` and moved there once complete; `path` must not
    exist. A model transformers cannot represent is refused first, or with `adapt=True`
    written as an equivalent one where that exists (see
    [`to_huggingface`][hawkzoo.checkpoints.to_huggingface])."""
    tokenizer = tokenizer_file(tokenizer)
    state_dict, hf_config = to_huggingface(model, adapt=adapt)
    if hf_config["tie_word_embeddings"]:
        del state_dict["lm_head.weight"]
    shards = _shards(state_dict, shard_bytes)
    names = (
        ["model.safetensors"]
        if len(shards) == 1
        else [f"model-{i:05d}-of-{len(shards):05d}.safetensors" for i in range(1, len(shards) + 1)]
    )
    with new_folder(path) as folder:
        folder.mkdir()
        for name, shard in zip(names, shards, strict=True):
            save_safetensors(shard, folder / name)
        if len(shards) > 1:
            index = {
                "metadata": {"total_size": sum(a.nbytes for a in state_dict.values())},
                "weight_map": {key: n for n, s in zip(names, shards, strict=True) for key in s},
            }
            (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
        (folder / "config.json").write_text(json.dumps(hf_config, indent=2) + "\n")
        copy_tokenizer(tokenizer, folder)
    return pathlib.Path(path)


def save_safetensors(arrays: Mapping[str, Any], file: pathlib.Path) -> None:
    """Write NumPy arrays as a safetensors file transformers and torch read (bfloat16 too)."""
    try:
        import jax.numpy as jnp
        from safetensors.flax import save_file
    except ImportError as error:
        raise MissingDependencyError(
            f"writing safetensors needs {error.name}: pip install 'hawkzoo[safetensors]'"
        ) from None
    save_file({k: jnp.asarray(v) for k, v in arrays.items()}, file, metadata={"format": "pt"})


def _shards(state_dict: Mapping[str, Any], shard_bytes: int) -> list[dict[str, Any]]:
    """The arrays in key order, cut into groups of at most `shard_bytes` (a larger array
    alone)."""
    shards: list[dict[str, Any]] = [{}]
    size = 0
    for key in sorted(state_dict):
        array = state_dict[key]
        if shards[-1] and size + array.nbytes > shard_bytes:
            shards.append({})
            size = 0
        shards[-1][key] = array
        size += array.nbytes
    return shards


def is_huggingface(state_dict: Mapping[str, Any]) -> bool:
    """Whether a state dict has HuggingFace's key names."""
    return any(key.startswith(("model.", "lm_head.")) for key in state_dict)


def _hf_key(torch_key: str) -> str:
    key = re.sub(r"^blocks\.", "layers.", torch_key)
    for theirs, ours in _RENAMES:
        key = key.replace(theirs, ours)
    return key


def _torch_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """HuggingFace keys and layouts back to the official PyTorch ones."""
    attention_layers = {key.split(".")[2] for key in state_dict if ".temporal_block.q_proj." in key}
    renames = {hf: torch for torch, hf in _RENAMES if not torch.endswith("_block.")}
    torch_state = {}
    for key, value in state_dict.items():
        if key == "lm_head.weight":  # tied to the embedding
            continue
        if not key.startswith("model."):
            raise InputError(f"{key!r} is not a RecurrentGemmaForCausalLM key")
        key = key.removeprefix("model.")
        if key.startswith("layers."):
            index = key.split(".")[1]
            kind = "attention_block." if index in attention_layers else "recurrent_block."
            key = f"blocks.{key.removeprefix('layers.')}".replace("temporal_block.", kind)
        for hf, torch in renames.items():
            key = key.replace(hf, torch)
        torch_state[key] = value
    for key in [key for key in torch_state if key.endswith("gate_proj.weight")]:
        stem = key.removesuffix("gate_proj.weight")
        gate, up = torch_state.pop(key), torch_state.pop(stem + "up_proj.weight")
        torch_state[stem + "ffw_up.w"] = np.stack([np.asarray(gate).T, np.asarray(up).T])
        gate_bias, up_bias = (
            torch_state.pop(stem + "gate_proj.bias"),
            torch_state.pop(stem + "up_proj.bias"),
        )
        torch_state[stem + "ffw_up.b"] = np.stack([gate_bias, up_bias])[:, None, None, :]
    for key in [key for key in torch_state if key.endswith("conv_1d.weight")]:
        weight = np.asarray(torch_state.pop(key))
        if weight.ndim != 3 or weight.shape[1] != 1:
            raise InputError(
                f"model.{key} should have shape (channels, 1, width), has {weight.shape}"
            )
        torch_state[key.removesuffix(".weight") + ".w"] = weight[:, 0, :].T
    return torch_state


def _hf_config(config: ModelConfig) -> dict[str, Any]:
    return {
        "architectures": ["RecurrentGemmaForCausalLM"],
        "model_type": "recurrent_gemma",
        "vocab_size": config.vocab_size,
        "hidden_size": config.width,
        "intermediate_size": 2 * config.mlp_width,
        "lru_width": config.lru_width,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": 1,
        "num_hidden_layers": config.num_layers,
        "block_types": list(config.block_pattern),
        "attention_window_size": (
            HAWK_WINDOW if config.attention_window is None else config.attention_window + 1
        ),
        "conv1d_width": config.conv_width,
        "logits_soft_cap": config.logits_soft_cap,
        "embeddings_scale_by_sqrt_dim": config.embedding_scale,
        "hidden_activation": "gelu_pytorch_tanh",
        "partial_rotary_factor": 0.5,
        "rope_theta": 10000.0,
        "rms_norm_eps": 1e-6,
        "tie_word_embeddings": True,
        "torch_dtype": config.param_dtype,
        CONFIG_KEY: dataclasses.asdict(config),
    }
