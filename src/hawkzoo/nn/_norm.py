"""RMSNorm with the `(scale + 1)` parametrisation."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class RMSNorm(eqx.Module):
    r"""$x / \sqrt{\overline{x^2} + \epsilon} \cdot (1 + \text{scale})$ over the last axis.

    `scale` starts at zero, so the layer starts as a plain RMS normalisation. It computes
    in the dtype of its input and scale (no float32 upcast), as the official code does.
    """

    scale: Float[Array, " width"]
    eps: float = eqx.field(static=True, default=1e-6)

    def __init__(self, width: int, *, eps: float = 1e-6, dtype=jnp.float32):
        self.scale = jnp.zeros((width,), dtype)
        self.eps = eps

    def __call__(self, x: Float[Array, "*batch width"]) -> Float[Array, "*batch width"]:
        variance = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
        normed = x * jax.lax.rsqrt(variance + self.eps)
        return normed * (self.scale + 1).reshape((1,) * (x.ndim - 1) + (-1,))
