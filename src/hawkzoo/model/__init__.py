"""The language model, its config and its presets."""

from ._config import ModelConfig as ModelConfig
from ._model import (
    LanguageModel as LanguageModel,
    State as State,
    cast as cast,
    embedding_multiplier as embedding_multiplier,
    num_parameters as num_parameters,
)
from ._presets import build as build, preset as preset, presets as presets
