"""hawkzoo: Griffin, Hawk, RecurrentGemma and the RG-LRU in JAX and Equinox."""

import importlib.metadata

from . import (
    backends as backends,
    checkpoints as checkpoints,
    data as data,
    errors as errors,
    model as model,
    nn as nn,
    sampling as sampling,
    sharding as sharding,
    tokenizers as tokenizers,
    training as training,
)
from .backends import linear_scan as linear_scan
from .model import LanguageModel as LanguageModel, ModelConfig as ModelConfig, quantize as quantize

__version__ = importlib.metadata.version("hawkzoo")
