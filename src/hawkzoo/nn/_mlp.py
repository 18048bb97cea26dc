"""The gated MLP of every residual block."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ._init import scaled_normal
from ._linear import Linear


class GatedMLP(eqx.Module):
    r"""$\text{down}(\text{GeLU}_{\tanh}(x W_0 + b_0) \odot (x W_1 + b_1))$.

    `up` holds both branches, `(2, width, expanded_width)`, as the official `ffw_up` does,
    and is initialised with variance `1 / (2 width)` (its fan-in counts both branches);
    `down` with variance `down_init_scale / expanded_width`.
    """

    up_weight: Float[Array, "2 width expanded"]
    up_bias: Float[Array, "2 expanded"]
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
        self.up_weight = scaled_normal(up_key, (2, width, expanded_width), 2 * width, dtype=dtype)
        self.up_bias = jnp.zeros((2, expanded_width), dtype)
        self.down = Linear(
            expanded_width, width, init_scale=down_init_scale, dtype=dtype, key=down_key
        )

    def __call__(self, x: Float[Array, "seq width"]) -> Float[Array, "seq width"]:
        gate, value = jnp.einsum("td,cde->cte", x, self.up_weight) + self.up_bias[:, None, :]
        return self.down(jax.nn.gelu(gate, approximate=True) * value)
