"""The gated MLP of every residual block."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._linear import Linear


class GatedMLP(eqx.Module):
    r"""$\text{down}(\text{GeLU}_{\tanh}(x W_g + b_g) \odot (x W_v + b_v))$.

    `up` holds both branches side by side, `(width, 2 expanded_width)`: the gate's columns
    first, then the value's (the official `ffw_up` stacks them on a leading axis; one
    matrix is one matmul, which XLA:CPU runs several times faster than two slices for a
    decoded token). `up` is initialised with variance `1 / (2 width)`, as the official
    code does; `down` with variance `down_init_scale / expanded_width`.
    """

    up: Linear
    down: Linear

    def __init__(
        self,
        width: int,
        expanded_width: int,
        *,
        down_init_scale: float = 1.0,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        up_key, down_key = jax.random.split(key)
        self.up = Linear(width, 2 * expanded_width, init_scale=0.5, dtype=dtype, key=up_key)
        self.down = Linear(
            expanded_width, width, init_scale=down_init_scale, dtype=dtype, key=down_key
        )

    def __call__(self, x: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        gate, value = jnp.split(self.up(x), 2, axis=-1)
        return self.down(jax.nn.gelu(gate, approximate=True) * value)
