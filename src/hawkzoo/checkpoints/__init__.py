"""Checkpoints: hawkzoo's own (Orbax), and the official and HuggingFace layouts."""

from ._export import FORMATS as FORMATS, export as export
from ._flax import (
    config_from_flax as config_from_flax,
    from_flax as from_flax,
    official_module as official_module,
    to_flax as to_flax,
)
from ._huggingface import (
    from_huggingface as from_huggingface,
    save_huggingface as save_huggingface,
    to_huggingface as to_huggingface,
)
from ._load import (
    load as load,
    read_tensors as read_tensors,
    tokenizer_beside as tokenizer_beside,
)
from ._orbax import is_checkpoint as is_checkpoint, save as save
from ._torch import from_torch as from_torch, to_torch as to_torch
