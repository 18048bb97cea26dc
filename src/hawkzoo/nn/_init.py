"""Initialisers, as the official implementation draws them (`variance_scaling`, normal)."""

import math

import jax.random as jr
from jaxtyping import Array, PRNGKeyArray


def scaled_normal(
    key: PRNGKeyArray, shape: tuple[int, ...], fan_in: int, scale: float = 1.0, *, dtype
) -> Array:
    """Normal with variance `scale / fan_in`, as `variance_scaling(scale, "fan_in", "normal")`."""
    return (math.sqrt(scale / fan_in) * jr.normal(key, shape)).astype(dtype)
