"""One entry point that reads every checkpoint format hawkzoo knows."""

import json
import os
import pathlib
from collections.abc import Mapping
from typing import Any

from ..errors import CheckpointError, InputError, MissingDependencyError, MissingPathError
from ..model import LanguageModel, ModelConfig
from ._huggingface import from_huggingface, is_huggingface
from ._managed import STEPS_FOLDER, is_step, latest_step, load_step
from ._orbax import is_checkpoint, load_orbax, recover
from ._staging import TOKENIZER_FILE
from ._torch import from_torch

TENSOR_FILES = (".safetensors", ".npz", ".pt", ".pth", ".bin")
RUN_CHECKPOINT = "checkpoint"
"""Where a run folder kept its one checkpoint before step-numbered checkpoints."""


def tokenizer_beside(path: str | os.PathLike) -> pathlib.Path | None:
    """The `tokenizer.model` kept with the checkpoint at `path`: in its folder, or in the
    run folder it is a step of, or None."""
    folder = pathlib.Path(path)
    run = folder.parent.parent if is_step(folder) else folder
    for candidate in (folder, run, folder / RUN_CHECKPOINT):
        if (candidate / TOKENIZER_FILE).is_file():
            return candidate / TOKENIZER_FILE
    return None


def _run_checkpoint(path: pathlib.Path) -> pathlib.Path | None:
    """The checkpoint a run folder stands for: its latest step (or the one checkpoint of a
    run from before step-numbered checkpoints); None if `path` is no run folder."""
    if is_step(path) or is_checkpoint(path):
        return None
    if (path / STEPS_FOLDER).is_dir():
        latest = latest_step(path)
        if latest is None:
            raise CheckpointError(f"{path} is a run with no checkpoint saved yet")
        return latest
    return path / RUN_CHECKPOINT if is_checkpoint(path / RUN_CHECKPOINT) else None


def load(path: str | os.PathLike, config: ModelConfig | None = None, **fields) -> LanguageModel:
    """A model from any checkpoint hawkzoo reads, told apart by what `path` holds:

    - a folder written by [`save`][hawkzoo.checkpoints.save] (config included);
    - a training run's folder (its latest step), or one of its steps (`checkpoints/<step>`,
      see [`RunCheckpoints`][hawkzoo.training.RunCheckpoints]);
    - an official Flax checkpoint folder (an Orbax tree, as RecurrentGemma was released);
    - a HuggingFace `RecurrentGemmaForCausalLM` folder (`config.json` and safetensors);
    - one file of official PyTorch or HuggingFace weights: `.safetensors`, `.npz`, or
      `.pt`/`.pth`/`.bin` (these need torch installed).

    Without a saved config, sizes come from the shapes, and the window, the soft-cap and
    the embedding scale from a matching preset or `fields` (see
    [`config_from_flax`][hawkzoo.checkpoints.config_from_flax]); `fields` change any
    config field. Arrays keep their stored dtype (bf16 releases give a bf16 model).

    Raises `FileNotFoundError` for a missing path, and `ValueError` naming what is wrong
    with one that cannot be read or whose shapes do not fit the config.
    """
    path = pathlib.Path(path).absolute()
    recover(path)
    if path.is_file():
        return _from_state_dict(read_tensors(path), None, config, **fields)
    if not path.is_dir():
        raise MissingPathError(f"no checkpoint at {path}")
    path = _run_checkpoint(path) or path
    if is_step(path):
        return load_step(path, config, **fields)
    if is_checkpoint(path):
        return load_orbax(path, config, **fields)
    hf_config = _huggingface_config(path)
    if hf_config is not None:
        files = sorted(path.glob("*.safetensors"))
        if not files:
            raise InputError(f"{path} has a HuggingFace config.json but no .safetensors files")
        state_dict = {key: value for file in files for key, value in read_tensors(file).items()}
        return _from_state_dict(state_dict, hf_config, config, **fields)
    return load_orbax(path, config, **fields)


def _from_state_dict(
    state_dict: Mapping[str, Any],
    hf_config: Mapping[str, Any] | None,
    config: ModelConfig | None,
    **fields,
) -> LanguageModel:
    if is_huggingface(state_dict):
        return from_huggingface(state_dict, hf_config, config, **fields)
    return from_torch(state_dict, config, **fields)


def _huggingface_config(folder: pathlib.Path) -> dict[str, Any] | None:
    file = folder / "config.json"
    if not file.is_file():
        return None
    try:
        fields = json.loads(file.read_text())
    except ValueError as error:
        raise InputError(f"{file} is not valid JSON: {error}") from None
    if not isinstance(fields, dict) or fields.get("model_type") != "recurrent_gemma":
        return None
    return fields


def read_tensors(path: str | os.PathLike) -> dict[str, Any]:
    """The named arrays of one weights file (bf16 kept as bf16)."""
    path = pathlib.Path(path)
    suffix = path.suffix
    if suffix not in TENSOR_FILES:
        raise InputError(f"{path}: unknown weights file type, expected one of {TENSOR_FILES}")
    try:
        if suffix == ".safetensors":
            from safetensors.flax import load_file

            return dict(load_file(path))
        if suffix == ".npz":
            import numpy as np

            with np.load(path, allow_pickle=False) as arrays:
                return dict(arrays)
        return _read_torch(path)
    except ImportError as error:
        raise MissingDependencyError(
            f"reading {suffix} files needs {error.name}: pip install it"
        ) from None
    except FileNotFoundError:
        raise
    except Exception as error:  # each reader has its own errors (SafetensorError, ...)
        raise InputError(f"{path} is not a readable weights file: {error}") from None


def _read_torch(path: pathlib.Path) -> dict[str, Any]:
    import jax.numpy as jnp
    import torch  # pyright: ignore[reportMissingImports]

    state_dict = torch.load(path, map_location="cpu", weights_only=True)
    state_dict = state_dict.get("state_dict", state_dict)
    return {
        key: jnp.asarray(tensor.float().numpy()).astype(str(tensor.dtype).removeprefix("torch."))
        for key, tensor in state_dict.items()
    }
