"""Dense and block-diagonal linear layers."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from ..backends._platform import target_platform
from ..errors import InputError
from ._init import scaled_normal


class Linear(eqx.Module):
    """`y = x @ weight + bias`, with `weight` stored `(in, out)` as in the official checkpoints.

    Initialised normal with variance `init_scale / in_features`, bias zero.
    """

    weight: Float[Array, "in out"]
    bias: Float[Array, " out"] | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        use_bias: bool = True,
        init_scale: float = 1.0,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        self.weight = scaled_normal(
            key, (in_features, out_features), in_features, init_scale, dtype=dtype
        )
        self.bias = jnp.zeros((out_features,), dtype) if use_bias else None

    @property
    def dtype(self) -> jnp.dtype:
        """The floating-point dtype of the weights."""
        return self.weight.dtype

    def __call__(self, x: Float[Array, "*batch in"]) -> Float[Array, "*batch out"]:
        y = x @ self.weight
        if self.bias is not None:
            y = y + self.bias.reshape((1,) * (y.ndim - 1) + (-1,))
        return y


class BlockDiagonalLinear(eqx.Module):
    """A linear layer of `num_blocks` independent blocks: the RG-LRU's gates.

    The input is split into `num_blocks` equal groups, each mapped by its own matrix to its
    own group of outputs. Initialised normal with variance `1 / in_features` (the official
    fan-in counts every block), bias zero.
    """

    weight: Float[Array, "blocks block_in block_out"]
    bias: Float[Array, "blocks block_out"]

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_blocks: int,
        *,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        for name, size in (("in_features", in_features), ("out_features", out_features)):
            if size % num_blocks:
                raise InputError(f"{name}={size} is not divisible by num_blocks={num_blocks}")
        shape = (num_blocks, in_features // num_blocks, out_features // num_blocks)
        self.weight = scaled_normal(key, shape, in_features, dtype=dtype)
        self.bias = jnp.zeros(shape[::2], dtype)

    def __call__(self, x: Float[Array, "*batch in"]) -> Float[Array, "*batch out"]:
        blocks, block_in, _ = self.weight.shape
        grouped = x.reshape(*x.shape[:-1], blocks, block_in)
        if target_platform() == "cpu" and jax.sharding.get_abstract_mesh().empty:
            # XLA:CPU runs a product per block without the batched one's transposes (4-12%
            # of the main job's training step); under a mesh the batched product keeps each
            # device's blocks local
            products = [grouped[..., h, :] @ self.weight[h] for h in range(blocks)]
            y = jnp.stack(products, axis=-2)
        else:
            y = jnp.einsum("...hi,hij->...hj", grouped, self.weight)
        y = y + self.bias.reshape((1,) * (y.ndim - 2) + self.bias.shape)
        return y.reshape(*x.shape[:-1], -1)
