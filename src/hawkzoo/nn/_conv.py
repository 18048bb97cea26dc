"""The causal depthwise convolution of the recurrent block."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..errors import InputError
from ._init import scaled_normal


class Conv1D(eqx.Module):
    r"""Causal depthwise convolution, $y_t = b + \sum_{s=0}^{K-1} w_{K-1-s} \odot x_{t-s}$.

    `weight[K - 1]` multiplies the current input and `weight[0]` the oldest. An input from
    another document never reaches an output: $x_{t-s}$ is dropped when a document starts
    (`segment_pos == 0`) in $(t-s, t]$, and inputs carried in `state` count only when the
    current document began before them (`segment_pos[t] >= s`). Initialised normal with
    variance `0.01 / K`, bias zero.

    `state` holds the last `K - 1` inputs, oldest first; zeros stand for "nothing yet".
    """

    weight: Float[Array, "kernel width"]
    bias: Float[Array, " width"]

    def __init__(self, width: int, kernel_size: int = 4, *, dtype=jnp.float32, key: PRNGKeyArray):
        if kernel_size < 1:
            raise InputError(f"kernel_size must be positive, got {kernel_size}")
        self.weight = scaled_normal(key, (kernel_size, width), kernel_size, 0.01, dtype=dtype)
        self.bias = jnp.zeros((width,), dtype)

    @property
    def kernel_size(self) -> int:
        return self.weight.shape[0]

    def empty_state(self) -> Float[Array, "history width"]:
        return jnp.zeros((self.kernel_size - 1, self.weight.shape[1]), self.weight.dtype)

    def __call__(
        self,
        x: Float[Array, "seq width"],
        segment_pos: Int[Array, " seq"],
        state: Float[Array, "history width"] | None = None,
        *,
        history: bool = False,
    ) -> tuple[Float[Array, "seq width"], Float[Array, "inputs width"]]:
        """Returns the outputs and the state after them; with `history`, instead of the
        state, every input it has seen (the state's, then these), to roll back to."""
        steps, past = x.shape[0], self.kernel_size - 1
        if state is None:
            state = jnp.zeros((past, x.shape[1]), x.dtype)
        extended = jnp.concatenate([state.astype(x.dtype), x])
        document = jnp.cumsum(segment_pos == 0)
        t = jnp.arange(steps)
        y = 0.0
        for shift in range(self.kernel_size):
            window = extended[past - shift : past - shift + steps]
            source = t - shift
            keep = jnp.where(
                source >= 0,
                document[jnp.maximum(source, 0)] == document,
                (document == 0) & (segment_pos >= shift),
            )
            y = y + window * keep[:, None].astype(x.dtype) * self.weight[past - shift][None]
        return y + self.bias[None], extended if history else extended[steps:]
