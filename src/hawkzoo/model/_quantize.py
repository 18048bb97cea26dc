"""int8 weight-only quantization: the dense layers and the embedding as int8 with one float
scale per output channel; everything else, and the state, stays float."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int8

from ..errors import InputError
from ..nn import Linear

QUANTIZATIONS = ("int8",)


class Int8Linear(eqx.Module):
    """A [`Linear`][hawkzoo.nn.Linear] with an int8 weight and one scale per output
    channel: `y = (x @ weight) * scale + bias`, the product in `x`'s dtype."""

    weight: Int8[Array, "in out"]
    scale: Float[Array, " out"]
    bias: Float[Array, " out"] | None

    def __init__(self, linear: Linear):
        self.weight, self.scale = _int8(linear.weight, axis=0)
        self.bias = linear.bias

    @property
    def dtype(self) -> jnp.dtype:
        """The floating-point dtype of the layer it stands for (its scales')."""
        return self.scale.dtype

    def __call__(self, x: Float[Array, "*batch in"]) -> Float[Array, "*batch out"]:
        y = _scaled(x @ self.weight.astype(x.dtype), self.scale)
        return y if self.bias is None else y + _last_axis(self.bias.astype(x.dtype), y.ndim)


class Int8Embedding(eqx.Module):
    """The tied embedding as int8, one scale per token: a row's scale serves both its
    lookup and its logit (the output channel of `x @ embedding.T`)."""

    values: Int8[Array, "vocab width"]
    scale: Float[Array, " vocab"]

    def __init__(self, embedding: Float[Array, "vocab width"]):
        self.values, self.scale = _int8(embedding, axis=1)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    @property
    def dtype(self):
        return self.scale.dtype


Embedding = Float[Array, "vocab width"] | Int8Embedding


def embed(embedding: Embedding, tokens: ArrayLike) -> Float[Array, "seq width"]:
    """The rows of `tokens`."""
    if isinstance(embedding, Int8Embedding):
        return embedding.values[tokens].astype(embedding.dtype) * embedding.scale[tokens, None]
    return embedding[tokens]


def unembed(x: Float[Array, "seq width"], embedding: Embedding) -> Float[Array, "seq vocab"]:
    """`x @ embedding.T`: the logits."""
    if isinstance(embedding, Int8Embedding):
        return _scaled(x @ embedding.values.T.astype(x.dtype), embedding.scale)
    return x @ embedding.T


def quantize[M: eqx.Module](model: M, mode: str = "int8") -> M:
    """`model` with int8 weights: every [`Linear`][hawkzoo.nn.Linear] (the blocks'
    projections, the MLPs, attention) and the embedding, per output channel
    (symmetric, scale = max |w| / 127). The norms, the RG-LRU's gates and decay, the
    convolution, the biases and the decoding state stay in float; activations keep the
    model's compute dtype. Quantized models save and load as hawkzoo checkpoints."""
    if mode not in QUANTIZATIONS:
        raise InputError(f"quantize mode {mode!r}: the modes are {', '.join(QUANTIZATIONS)}")
    if is_quantized(model):
        raise InputError("the model is already quantized")

    def swap(leaf):
        return Int8Linear(leaf) if isinstance(leaf, Linear) else leaf

    model = jax.tree.map(swap, model, is_leaf=lambda leaf: isinstance(leaf, Linear))
    if hasattr(model, "embedding"):
        model = eqx.tree_at(lambda m: m.embedding, model, Int8Embedding(model.embedding))  # pyright: ignore[reportAttributeAccessIssue]
    return model


def is_quantized(model: eqx.Module) -> bool:
    """Whether any layer of `model` holds int8 weights."""
    kinds = (Int8Linear, Int8Embedding)
    leaves = jax.tree.leaves(model, is_leaf=lambda leaf: isinstance(leaf, kinds))
    return any(isinstance(leaf, kinds) for leaf in leaves)


def _scaled(y: Array, scale: Array) -> Array:
    """Each output channel (the last axis) of `y` times its scale."""
    return y * _last_axis(scale.astype(y.dtype), y.ndim)


def _last_axis(vector: Array, ndim: int) -> Array:
    return vector.reshape((1,) * (ndim - 1) + (-1,))


def _int8(weight: Float[Array, "..."], axis: int) -> tuple[Array, Array]:
    """`weight` as int8 and the scale of each slice along the other axis (`axis` reduced)."""
    w = weight.astype(jnp.float32)
    scale = jnp.max(jnp.abs(w), axis=axis) / 127
    safe = jnp.where(scale > 0, scale, 1.0)
    q = jnp.clip(jnp.round(w / jnp.expand_dims(safe, axis)), -127, 127).astype(jnp.int8)
    return q, scale.astype(weight.dtype)
