"""Layers: unbatched Equinox modules (add a batch with `jax.vmap`)."""

from ._attention import (
    AttentionHistory as AttentionHistory,
    AttentionState as AttentionState,
    LocalAttention as LocalAttention,
    apply_rope as apply_rope,
    attend as attend,
    attention_mask as attention_mask,
    local_attention as local_attention,
)
from ._blocks import (
    BlockHistory as BlockHistory,
    BlockState as BlockState,
    RecurrentBlock as RecurrentBlock,
    RecurrentHistory as RecurrentHistory,
    RecurrentState as RecurrentState,
    ResidualBlock as ResidualBlock,
)
from ._conv import Conv1D as Conv1D
from ._linear import BlockDiagonalLinear as BlockDiagonalLinear, Linear as Linear
from ._mlp import GatedMLP as GatedMLP
from ._norm import RMSNorm as RMSNorm
from ._rglru import RGLRU as RGLRU, sqrt_bounded_gradient as sqrt_bounded_gradient
