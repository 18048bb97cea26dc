"""The language model, its config and its presets."""

from ._config import ModelConfig as ModelConfig
from ._model import (
    History as History,
    LanguageModel as LanguageModel,
    State as State,
    cast as cast,
    embedding_multiplier as embedding_multiplier,
    num_parameters as num_parameters,
)
from ._presets import build as build, preset as preset, presets as presets
from ._quantize import (
    Int8Embedding as Int8Embedding,
    Int8Linear as Int8Linear,
    is_quantized as is_quantized,
    quantize as quantize,
)
from ._states import (
    batch_size as batch_size,
    broadcast_state as broadcast_state,
    concatenate_states as concatenate_states,
    select_rows as select_rows,
    state_after as state_after,
)
