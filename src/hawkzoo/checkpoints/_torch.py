"""The official PyTorch layout (`recurrentgemma.torch.Griffin`'s state dict), to hawkzoo and back.

Its keys are the Flax paths joined by dots, with dense `kernel`s named `weight` and stored
transposed, `[out, in]`; every other array keeps its Flax name and layout.
"""

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError
from ..model import LanguageModel, ModelConfig
from ._flax import Path, flatten, from_flax, nest, to_flax


def to_torch(model: LanguageModel) -> dict[str, np.ndarray]:
    """The model's parameters as the official PyTorch model's state dict (NumPy arrays)."""
    return {
        _torch_key(path): np.ascontiguousarray(value.T if path[-1] == "kernel" else value)
        for path, value in flatten(to_flax(model)).items()
    }


def flax_from_torch(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """An official PyTorch state dict as the official Flax parameter tree."""
    flat = {}
    for key, value in state_dict.items():
        path = _flax_path(key)
        if path[-1] == "weight":
            if np.ndim(value) != 2:
                raise InputError(f"{key!r} should be a 2-D Linear weight, has shape {value.shape}")
            path, value = (*path[:-1], "kernel"), value.T
        flat[path] = value
    return nest(flat)


def from_torch(
    state_dict: Mapping[str, Any], config: ModelConfig | None = None, **fields
) -> LanguageModel:
    """A hawkzoo model from the official PyTorch model's state dict (arrays of any kind
    NumPy can read; a leading `params.` on every key is dropped). `config` and `fields` as
    for [`from_flax`][hawkzoo.checkpoints.from_flax]."""
    if state_dict and all(key.startswith("params.") for key in state_dict):
        state_dict = {key.removeprefix("params."): value for key, value in state_dict.items()}
    return from_flax(flax_from_torch(state_dict), config, **fields)


def _torch_key(path: Path) -> str:
    return ".".join((*path[:-1], "weight" if path[-1] == "kernel" else path[-1]))


def _flax_path(key: str) -> Path:
    """`blocks.3.mlp_block.ffw_up.w` → `("blocks.3", "mlp_block", "ffw_up", "w")`."""
    parts = key.split(".")
    if parts[0] == "blocks" and len(parts) > 2:
        parts = [f"blocks.{parts[1]}", *parts[2:]]
    return tuple(parts)
