"""What transformers' `RecurrentGemmaForCausalLM` cannot hold as hawkzoo has it, and the
equivalent arrays an adapted export writes instead (and an import reads back).

- Gate blocks: transformers has one per head. Where the heads divide hawkzoo's blocks,
  each of its blocks holds several of hawkzoo's on its diagonal, zeros elsewhere.
- No soft-cap: transformers always caps, `c · tanh(x / c)`; with `c = SOFT_CAP` that is
  `x` to float32's rounding for any logit below 10^4.
- No embedding scale: transformers always multiplies the input embeddings by
  `s = sqrt(width)` in bfloat16. The export unties them: the input table is the
  embedding divided by `s`, the output one the embedding itself.
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from ..errors import InputError
from ..model import ModelConfig

SOFT_CAP = 1e9
_GATES = ("rg_lru.input_gate_", "rg_lru.recurrent_gate_")
_EMBEDDING, _OUTPUT = "model.embed_tokens.weight", "lm_head.weight"


class _Misfit(NamedTuple):
    reason: str
    adaptable: bool


def check(config: ModelConfig, adapt: bool) -> None:
    """Raise an `InputError` naming every field transformers cannot hold (only those no
    adaptation covers when `adapt`)."""
    misfits = _misfits(config)
    refused = [m.reason for m in misfits if not (adapt and m.adaptable)]
    if not refused:
        return
    hint = ""
    if not adapt and all(m.adaptable for m in misfits):
        hint = "; adapt=True (hawkzoo export --adapt) writes an equivalent model it can hold"
    raise InputError(
        "transformers' RecurrentGemmaForCausalLM cannot represent this model: "
        + "; ".join(refused)
        + hint
    )


def adapt(state_dict: dict[str, Any], hf_config: dict[str, Any], config: ModelConfig) -> None:
    """Rewrite a HuggingFace state dict and config, in place, to their equivalents."""
    blocks_per_head = config.num_gate_blocks // config.num_heads
    if blocks_per_head > 1:
        for key in _gate_keys(state_dict):
            state_dict[key] = _merge(np.asarray(state_dict[key]), blocks_per_head)
    if config.logits_soft_cap is None:
        hf_config["logits_soft_cap"] = SOFT_CAP
    if not config.embedding_scale:
        embedding = np.asarray(state_dict[_EMBEDDING])
        scale = np.asarray(_transformers_scale(config.width), embedding.dtype)
        state_dict[_OUTPUT], state_dict[_EMBEDDING] = embedding, embedding / scale
        hf_config["tie_word_embeddings"] = False


def restore(state_dict: Mapping[str, Any], config: ModelConfig) -> dict[str, Any]:
    """The state dict of an adapted export, written for `config`, as hawkzoo's again;
    arrays changed since (fine-tuned in transformers) so that `config` cannot hold them
    raise an `InputError`."""
    state_dict = dict(state_dict)
    blocks_per_head = config.num_gate_blocks // config.num_heads
    if blocks_per_head > 1:
        for key in _gate_keys(state_dict):
            state_dict[key] = _split(key, np.asarray(state_dict[key]), blocks_per_head)
    if not config.embedding_scale and _OUTPUT in state_dict:
        output = np.asarray(state_dict[_OUTPUT])
        scale = _transformers_scale(config.width)
        scaled = np.asarray(state_dict[_EMBEDDING]).astype(np.float32) * scale
        if not np.allclose(scaled, output.astype(np.float32), rtol=1e-2, atol=1e-6):
            raise InputError(
                f"{_OUTPUT} is no longer {_EMBEDDING} times {scale}: hawkzoo ties them"
            )
        state_dict[_EMBEDDING] = output
    return state_dict


def _misfits(config: ModelConfig) -> list[_Misfit]:
    blocks, heads = config.num_gate_blocks, config.num_heads
    candidates = [
        (
            config.logits_soft_cap is None,
            _Misfit("logits_soft_cap=None (it always soft-caps)", True),
        ),
        (
            not config.embedding_scale,
            _Misfit("embedding_scale=False (it always scales the embeddings by sqrt(width))", True),
        ),
        (
            blocks != heads,
            _Misfit(
                f"num_gate_blocks={blocks} with num_heads={heads} (it has one RG-LRU gate "
                "block per head"
                + (")" if blocks % heads == 0 else "; the heads must divide the blocks)"),
                blocks % heads == 0,
            ),
        ),
        (
            config.complex_gates,
            _Misfit("complex_gates=True (it has the real-gated RG-LRU only)", False),
        ),
        (
            "attention" in config.block_types and config.attention_window is None,
            _Misfit("attention_window=None (it attends within a window only)", False),
        ),
    ]
    return [misfit for applies, misfit in candidates if applies]


def _transformers_scale(width: int) -> float:
    return float(jnp.asarray(width**0.5, jnp.bfloat16))


def _gate_keys(state_dict: Mapping[str, Any]) -> list[str]:
    return [key for key in state_dict if any(gate in key for gate in _GATES)]


def _merge(array: np.ndarray, k: int) -> np.ndarray:
    """`k` consecutive blocks as one: weights `(G, i, o)` to `(G / k, k i, k o)` block-
    diagonal, biases `(G, o)` to `(G / k, k o)`."""
    if array.ndim == 2:
        return array.reshape(array.shape[0] // k, -1)
    blocks, i, o = array.shape
    grouped = array.reshape(blocks // k, k, i, o)
    merged = np.zeros((blocks // k, k * i, k * o), array.dtype)
    for j in range(k):
        merged[:, j * i : (j + 1) * i, j * o : (j + 1) * o] = grouped[:, j]
    return merged


def _split(key: str, array: np.ndarray, k: int) -> np.ndarray:
    """`_merge` undone, refusing weights whose off-diagonal blocks are not zero."""
    if array.ndim == 2:
        return array.reshape(array.shape[0] * k, -1)
    heads, ki, ko = array.shape
    i, o = ki // k, ko // k
    diagonal = np.stack([array[:, j * i : (j + 1) * i, j * o : (j + 1) * o] for j in range(k)], 1)
    if np.any(_merge(diagonal.reshape(heads * k, i, o), k) != array):
        raise InputError(
            f"{key} has non-zero weights off its {k * heads} gate blocks: load it with "
            f"num_gate_blocks={heads}"
        )
    return diagonal.reshape(heads * k, i, o)
