"""A model written in the formats other implementations load."""

import os
import pathlib

from ..errors import InputError
from ..model import LanguageModel
from ._flax import to_flax
from ._huggingface import save_huggingface, save_safetensors
from ._orbax import write_tree
from ._staging import copy_tokenizer, new_folder, tokenizer_file
from ._torch import to_torch

FORMATS = {
    "hf": "transformers' RecurrentGemmaForCausalLM folder",
    "flax": "the official Flax parameters, an Orbax tree",
    "torch": "the official PyTorch state dict, as model.safetensors",
}


def export(
    path: str | os.PathLike,
    model: LanguageModel,
    format: str,
    *,
    tokenizer: str | os.PathLike | None = None,
    adapt: bool = False,
) -> pathlib.Path:
    """Write `model` to the new folder `path` in `format`, one of `FORMATS`:

    - `"hf"`: see [`save_huggingface`][hawkzoo.checkpoints.save_huggingface] (and its
      `adapt`);
    - `"flax"`: the tree `recurrentgemma.jax` loads (`{"params": ...}`, as released);
    - `"torch"`: `model.safetensors`, the state dict `recurrentgemma.torch.Griffin` loads.

    The SentencePiece `tokenizer` file, if given, is copied in as `tokenizer.model`. The
    folder appears whole or not at all. Only `"hf"` records the config; the others are
    read back with one: `load(path, config)`."""
    tokenizer = tokenizer_file(tokenizer)
    if format not in FORMATS:
        raise InputError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    if adapt and format != "hf":
        raise InputError(f"adapt applies to the hf format only, not {format}")
    if format == "hf":
        return save_huggingface(path, model, tokenizer=tokenizer, adapt=adapt)
    with new_folder(path) as folder:
        if format == "flax":
            write_tree(folder, {"params": to_flax(model)})
        else:
            folder.mkdir()
            save_safetensors(to_torch(model), folder / "model.safetensors")
        copy_tokenizer(tokenizer, folder)
    return pathlib.Path(path)
