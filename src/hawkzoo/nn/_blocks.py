"""The recurrent block and the pre-norm residual block that holds it or attention."""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PRNGKeyArray

from ..backends import AbstractScanBackend
from ._attention import AttentionHistory, AttentionState, LocalAttention
from ._conv import Conv1D
from ._linear import Linear
from ._mlp import GatedMLP
from ._norm import RMSNorm
from ._rglru import RGLRU


class RecurrentState(NamedTuple):
    """A recurrent block's state: the last inputs of its convolution and the RG-LRU state."""

    conv: Float[Array, "history lru_width"]
    rg_lru: Float[Array, " lru_width"]


class RecurrentHistory(NamedTuple):
    """A recurrent block's states at every position of a chunk, to roll back to: every
    input its convolution has seen (the state's, then the chunk's) and the RG-LRU state
    before the chunk and after each of its tokens."""

    conv_inputs: Float[Array, "history_and_seq lru_width"]
    rg_lru: Float[Array, "steps lru_width"]

    def state_after(self, n: Int[Array, ""] | int) -> RecurrentState:
        """The state after the chunk's first `n` tokens, as a chunk of `n` would leave it."""
        history = self.conv_inputs.shape[0] - (self.rg_lru.shape[0] - 1)
        conv = jax.lax.dynamic_slice_in_dim(self.conv_inputs, n, history)
        return RecurrentState(conv, self.rg_lru[n])


class RecurrentBlock(eqx.Module):
    r"""Griffin's temporal-mixing recurrent block.

    $$
    \text{out} = W_{\text{out}}\big(\text{RG-LRU}(\text{Conv1D}(W_x x)) \odot
    \text{GeLU}_{\tanh}(W_y x)\big)
    $$

    `linear_x` and `linear_y` (width → lru_width) are initialised with variance
    `1 / width`, `linear_out` with `out_init_scale / lru_width`; all have biases.
    """

    linear_x: Linear
    linear_y: Linear
    conv: Conv1D
    rg_lru: RGLRU
    linear_out: Linear

    def __init__(
        self,
        width: int,
        lru_width: int,
        num_gate_blocks: int,
        *,
        conv_width: int = 4,
        complex_gates: bool = False,
        out_init_scale: float = 1.0,
        backend: str | AbstractScanBackend | None = None,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        x_key, y_key, conv_key, lru_key, out_key = jax.random.split(key, 5)
        self.linear_x = Linear(width, lru_width, dtype=dtype, key=x_key)
        self.linear_y = Linear(width, lru_width, dtype=dtype, key=y_key)
        self.conv = Conv1D(lru_width, conv_width, dtype=dtype, key=conv_key)
        self.rg_lru = RGLRU(
            lru_width,
            num_gate_blocks,
            complex_gates=complex_gates,
            backend=backend,
            dtype=dtype,
            key=lru_key,
        )
        self.linear_out = Linear(
            lru_width, width, init_scale=out_init_scale, dtype=dtype, key=out_key
        )

    def __call__(
        self,
        x: Float[Array, "seq width"],
        segment_pos: Int[Array, " seq"],
        state: RecurrentState | None = None,
        *,
        history: bool = False,
    ) -> tuple[Float[Array, "seq width"], RecurrentState | RecurrentHistory]:
        """Returns the outputs and the state after them; with `history`, instead, a
        [`RecurrentHistory`][hawkzoo.nn.RecurrentHistory] of the states after every token."""
        y = jax.nn.gelu(self.linear_y(x), approximate=True)
        x, conv_state = self.conv(
            self.linear_x(x), segment_pos, None if state is None else state.conv, history=history
        )
        x, lru_state = self.rg_lru(
            x, segment_pos, None if state is None else state.rg_lru, history=history
        )
        kind = RecurrentHistory if history else RecurrentState
        return self.linear_out(x * y), kind(conv_state, lru_state)

    def init_state(self, max_length: int | None = None) -> RecurrentState:
        """The state before any token: zeros, the convolution's in the parameter dtype and
        the RG-LRU's in float32. Its size is fixed: `max_length` is not needed."""
        del max_length
        return RecurrentState(
            self.conv.empty_state(), jnp.zeros(self.linear_x.weight.shape[1], jnp.float32)
        )


BlockState = RecurrentState | AttentionState
BlockHistory = RecurrentHistory | AttentionHistory


class ResidualBlock(eqx.Module):
    r"""Pre-norm residual block: $h = x + \text{temporal}(\text{norm}(x))$, then
    $h + \text{MLP}(\text{norm}(h))$; the temporal block is recurrent or attention."""

    temporal_norm: RMSNorm
    temporal: RecurrentBlock | LocalAttention
    channel_norm: RMSNorm
    mlp: GatedMLP

    def __init__(
        self,
        temporal: RecurrentBlock | LocalAttention,
        width: int,
        mlp_width: int,
        *,
        out_init_scale: float = 1.0,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        self.temporal_norm = RMSNorm(width, dtype=dtype)
        self.temporal = temporal
        self.channel_norm = RMSNorm(width, dtype=dtype)
        self.mlp = GatedMLP(width, mlp_width, down_init_scale=out_init_scale, dtype=dtype, key=key)

    def __call__(
        self,
        x: Float[Array, "seq width"],
        segment_pos: Int[Array, " seq"],
        state: RecurrentState | AttentionState | None = None,
        *,
        history: bool = False,
    ) -> tuple[Float[Array, "seq width"], BlockState | BlockHistory]:
        mixed, after = self.temporal(self.temporal_norm(x), segment_pos, state, history=history)  # pyright: ignore[reportArgumentType]
        h = x + mixed
        return h + self.mlp(self.channel_norm(h)), after
