"""`LanguageModel`: Hawk, Griffin or the MQA Transformer, by the config's block pattern."""

import math
from typing import Literal, overload

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ..errors import InputError, InputTypeError
from ..nn import (
    AttentionState,
    BlockHistory,
    LocalAttention,
    RecurrentBlock,
    RecurrentState,
    ResidualBlock,
)
from ..nn._init import scaled_normal
from ..nn._norm import RMSNorm
from ._config import ModelConfig
from ._quantize import Embedding, embed, unembed
from ._states import broadcast_state

State = tuple[RecurrentState | AttentionState, ...]
"""A model's decoding state: one entry per residual block."""

History = tuple[BlockHistory, ...]
"""A model's states after every token of a chunk, one entry per residual block, from
`model(..., history=True)`; [`state_after`][hawkzoo.model.state_after] picks one."""


class LanguageModel(eqx.Module):
    """A language model of residual blocks with tied input and output embeddings.

    Call it on one sequence, `model(tokens, segment_pos)`; batch with `jax.vmap`.
    `segment_pos` is each token's position in its document: a 0 starts a new document,
    so one row can pack several (the recurrence resets, the convolution and attention do
    not look across). Initialised as the official code does: embedding variance
    `1 / width`, the last layer of every temporal block and MLP with `2 / num_layers`
    times its fan-in's inverse.
    """

    embedding: Embedding
    blocks: tuple[ResidualBlock, ...]
    final_norm: RMSNorm
    config: ModelConfig = eqx.field(static=True)

    def __init__(self, config: ModelConfig, *, key: PRNGKeyArray):
        dtype = config.dtype("param")
        embedding_key, *block_keys = jax.random.split(key, config.num_layers + 1)
        out_init_scale = 2.0 / config.num_layers
        self.embedding = scaled_normal(
            embedding_key, (config.vocab_size, config.width), config.width, dtype=dtype
        )
        self.blocks = tuple(
            _residual_block(config, block_type, out_init_scale, dtype, block_key)
            for block_type, block_key in zip(config.block_types, block_keys, strict=True)
        )
        self.final_norm = RMSNorm(config.width, dtype=dtype)
        self.config = config

    @overload
    def __call__(
        self,
        tokens: ArrayLike,
        segment_pos: ArrayLike,
        state: State | None = None,
        *,
        history: Literal[False] = False,
    ) -> tuple[Float[Array, "seq vocab"], State]: ...

    @overload
    def __call__(
        self, tokens: ArrayLike, segment_pos: ArrayLike, state: State, *, history: Literal[True]
    ) -> tuple[Float[Array, "seq vocab"], History]: ...

    def __call__(
        self,
        tokens: ArrayLike,
        segment_pos: ArrayLike,
        state: State | None = None,
        *,
        history: bool = False,
    ) -> tuple[Float[Array, "seq vocab"], State | History]:
        """Logits for every position, and the state after the last token.

        - `tokens`: integer ids, shape `(seq,)`.
        - `segment_pos`: each token's position in its document, shape `(seq,)`.
        - `state`: None to start afresh, or the state a previous call returned, to
          continue from it.
        - `history`: return, instead of the last state, a `History` of the states after
          every token (a `state` is needed), to roll back to any of them with
          [`state_after`][hawkzoo.model.state_after] and no further model call.
        """
        config = self.config
        tokens, segment_pos = jnp.asarray(tokens), jnp.asarray(segment_pos)
        if tokens.shape != segment_pos.shape or tokens.ndim != 1:
            raise InputError(
                f"tokens and segment_pos must be one-dimensional and of one shape, got "
                f"tokens {tokens.shape} and segment_pos {segment_pos.shape}; batch with jax.vmap"
            )
        for name, array in (("tokens", tokens), ("segment_pos", segment_pos)):
            if not jnp.issubdtype(array.dtype, jnp.integer):
                raise InputTypeError(f"{name} must be integers, got dtype {array.dtype}")
        if state is not None:
            self.check_state(state)
        elif history:
            raise InputError("history=True needs a state to continue from (model.init_state())")
        tokens = tokens + eqx.error_if(  # on a scalar: a sharded `tokens` stays where it is
            jnp.zeros((), tokens.dtype),
            jnp.any((tokens < 0) | (tokens >= config.vocab_size)),
            f"token ids must lie in [0, vocab_size={config.vocab_size}) (under plain jax.jit "
            "this comes inside JAX's runtime error; eqx.filter_jit raises it alone)",
        )
        model = self if config.compute_dtype is None else cast(self, config.dtype("compute"))
        x = embed(model.embedding, tokens)
        if config.embedding_scale:
            x = x * embedding_multiplier(config.width, x.dtype)
        new_state = []
        for i, block in enumerate(model.blocks):
            call = eqx.filter_checkpoint(block) if config.remat else block
            x, block_state = call(
                x, segment_pos, None if state is None else state[i], history=history
            )
            new_state.append(block_state)
        logits = unembed(model.final_norm(x), model.embedding)
        if config.logits_soft_cap is not None:
            logits = jnp.tanh(logits / config.logits_soft_cap) * config.logits_soft_cap
        return logits, tuple(new_state)

    def check_state(self, state: State) -> None:
        """Refuse a state of another model, or a batched one (it goes with `jax.vmap`)."""
        if not isinstance(state, tuple) or len(state) != len(self.blocks):
            raise InputError(
                f"state must be a tuple of {len(self.blocks)} block states, got "
                f"{len(state) if isinstance(state, tuple) else type(state).__name__}"
            )
        expected = jax.eval_shape(lambda: self.init_state(1))
        for i, (given, like) in enumerate(zip(state, expected, strict=True)):
            if type(given) is not type(like):
                raise InputError(
                    f"state[{i}] is {type(given).__name__}, but block {i} takes "
                    f"{type(like).__name__}: a state of another model?"
                )
            for field, array, one_row in zip(like._fields, given, like, strict=True):
                shape = jnp.shape(array)
                ring = field in ("keys", "values") and self.config.attention_window is None
                if shape[ring:] != one_row.shape[ring:]:  # global attention's ring: any length
                    batched = len(shape) == len(one_row.shape) + 1
                    raise InputError(
                        f"state[{i}].{field} has shape {shape}, one row of this model's "
                        f"{one_row.shape}: "
                        + (
                            "a batched state goes with jax.vmap(model)"
                            if batched
                            else "a state of another model?"
                        )
                    )

    def init_state(self, max_length: int | None = None, *, batch_size: int | None = None) -> State:
        """The state before any token, to prefill and decode from.

        - `max_length`: the most tokens a document may reach; only global attention (the
          MQA baseline) needs it, to preallocate its keys and values. The recurrent
          state and the local-attention ring have a fixed size.
        - `batch_size`: None for one sequence, or the leading axis of a state for
          `jax.vmap(model)` over that many rows.

        Arrays are in the compute dtype, the RG-LRU state in float32.
        """
        model = (
            self if self.config.compute_dtype is None else cast(self, self.config.dtype("compute"))
        )
        state = tuple(block.temporal.init_state(max_length) for block in model.blocks)
        return state if batch_size is None else broadcast_state(state, batch_size)


def embedding_multiplier(width: int, dtype) -> Array:
    """`sqrt(width)` rounded to bfloat16, as RecurrentGemma was trained (50.5 for 2560)."""
    return jnp.sqrt(jnp.float32(width)).astype(jnp.bfloat16).astype(dtype)


def cast[M: eqx.Module](model: M, dtype) -> M:
    """The model (or layer) with every floating-point array in `dtype`."""
    return jax.tree.map(
        lambda leaf: (
            leaf.astype(dtype)
            if eqx.is_array(leaf) and jnp.issubdtype(leaf.dtype, jnp.floating)
            else leaf
        ),
        model,
    )


def num_parameters(model: eqx.Module) -> int:
    """How many numbers the model's arrays hold (built or abstract)."""
    return sum(
        math.prod(leaf.shape)
        for leaf in jax.tree.leaves(model)
        if isinstance(leaf, jax.Array | jax.ShapeDtypeStruct)
    )


def _residual_block(
    config: ModelConfig, block_type: str, out_init_scale: float, dtype, key: PRNGKeyArray
) -> ResidualBlock:
    temporal_key, mlp_key = jax.random.split(key)
    if block_type == "recurrent":
        temporal = RecurrentBlock(
            config.width,
            config.lru_width,
            config.num_gate_blocks,
            conv_width=config.conv_width,
            complex_gates=config.complex_gates,
            out_init_scale=out_init_scale,
            backend=config.scan_backend,
            dtype=dtype,
            key=temporal_key,
        )
    else:
        temporal = LocalAttention(
            config.width,
            config.num_heads,
            config.attention_window,
            out_init_scale=out_init_scale,
            dtype=dtype,
            key=temporal_key,
        )
    return ResidualBlock(
        temporal,
        config.width,
        config.mlp_width,
        out_init_scale=out_init_scale,
        dtype=dtype,
        key=mlp_key,
    )
