"""hawkzoo: Griffin, Hawk, RecurrentGemma and the RG-LRU in JAX and Equinox."""

from . import backends as backends
from .backends import linear_scan as linear_scan

__version__ = "0.1.0.dev0"
