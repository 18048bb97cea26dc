"""Checkpoints: hawkzoo's own (Orbax), and the official layouts to and from hawkzoo."""

from ._flax import config_from_flax as config_from_flax, from_flax as from_flax, to_flax as to_flax
from ._orbax import is_checkpoint as is_checkpoint, load as load, save as save
