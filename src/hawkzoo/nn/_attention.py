"""Multi-query attention over a local window (or the whole sequence), with RoPE."""

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, PRNGKeyArray

from ..errors import InputError
from ._linear import Linear

MASKED_LOGIT = -2.3819763e38
"""The logit a masked key gets, as in the official code."""

ROPE_MAX_WAVELENGTH = 10_000


class AttentionState(NamedTuple):
    """The keys (after RoPE) and values of the last `window` tokens, in a ring: position
    `p` in slot `p % window`, with `num_tokens` the position after the last one written,
    as the official cache lays them out. Global attention keeps every token of the
    document in a ring preallocated to a stated maximum length."""

    keys: Float[Array, "window head_dim"]
    values: Float[Array, "window head_dim"]
    num_tokens: Int[Array, ""]


class AttentionHistory(NamedTuple):
    """An attention block's states at every position of a chunk, to roll back to: the
    keys and values of the state (oldest first) and then of the chunk, and the number
    of tokens before the chunk and after each of its tokens."""

    keys: Float[Array, "size_and_seq head_dim"]
    values: Float[Array, "size_and_seq head_dim"]
    num_tokens: Int[Array, " steps"]

    def state_after(self, n: Int[Array, ""] | int) -> AttentionState:
        """The state after the chunk's first `n` tokens, as a chunk of `n` would leave it."""
        size = self.keys.shape[0] - (self.num_tokens.shape[0] - 1)
        keys, values = (jax.lax.dynamic_slice_in_dim(a, n, size) for a in (self.keys, self.values))
        return _ring(keys, values, self.num_tokens[n], size)


def apply_rope(x: Float[Array, "seq *heads head_dim"], positions: Int[Array, " seq"]) -> Array:
    """Rotary embedding on the first half of the last axis; the second half passes through.

    Within the rotated half, the first quarter pairs with the second, with frequencies
    `10000^(-2k/d)` for `d` the rotated width.
    """
    rotated, passed = jnp.split(x, 2, axis=-1)
    rope_width = rotated.shape[-1]
    inverse_frequency = 1.0 / ROPE_MAX_WAVELENGTH ** (2 * jnp.arange(rope_width // 2) / rope_width)
    angle = positions.reshape(-1, *(1,) * (x.ndim - 1)) * inverse_frequency.reshape(
        (1,) * (x.ndim - 1) + (-1,)
    )
    sin, cos = jnp.sin(angle).astype(x.dtype), jnp.cos(angle).astype(x.dtype)
    first, second = jnp.split(rotated, 2, axis=-1)
    return jnp.concatenate([first * cos - second * sin, second * cos + first * sin, passed], -1)


def attention_mask(
    q_positions: Int[Array, " q"],
    k_positions: Int[Array, " k"],
    q_documents: Int[Array, " q"],
    k_documents: Int[Array, " k"],
    window: int | None,
) -> Bool[Array, "q k"]:
    """Causal, within one document, and at most `window` positions back (`window + 1` keys
    counting the query's own, as in the official code)."""
    q, k = q_positions[:, None], k_positions[None, :]
    mask = (k <= q) & (q_documents[:, None] == k_documents[None, :])
    if window is not None:
        mask = mask & (q <= k + window)
    return mask


def attend(
    q: Float[Array, "q heads head_dim"],
    k: Float[Array, "k head_dim"],
    v: Float[Array, "k head_dim"],
    mask: Bool[Array, "q k"],
) -> Float[Array, "q heads head_dim"]:
    """Softmax attention of every head to one shared key/value head; softmax in float32."""
    logits = jnp.einsum("tnh,sh->nts", q, k) * q.shape[-1] ** -0.5
    logits = jnp.where(mask[None], logits, MASKED_LOGIT).astype(jnp.float32)
    probs = jax.nn.softmax(logits, axis=-1).astype(q.dtype)
    return jnp.einsum("nts,sh->tnh", probs, v)


def local_attention(
    q: Float[Array, "seq heads head_dim"],
    k: Float[Array, "seq head_dim"],
    v: Float[Array, "seq head_dim"],
    documents: Int[Array, " seq"],
    window: int | None,
) -> Float[Array, "seq heads head_dim"]:
    """Masked attention whose cost grows as `seq × window`: queries in blocks of `window`
    attend to their own block and the one before, which holds every key they may see."""
    steps = q.shape[0]
    positions = jnp.arange(steps)
    if window is None or steps <= 2 * window:
        return attend(q, k, v, attention_mask(positions, positions, documents, documents, window))
    block = window
    num_blocks = math.ceil(steps / block)
    pad = num_blocks * block - steps

    def blocks(array: Array, fill) -> Array:
        padded = jnp.concatenate(
            [
                jnp.full((block, *array.shape[1:]), fill, array.dtype),
                array,
                jnp.full((pad, *array.shape[1:]), fill, array.dtype),
            ]
        )
        grouped = padded.reshape(num_blocks + 1, block, *array.shape[1:])
        return jnp.concatenate([grouped[:-1], grouped[1:]], axis=1)

    def query_blocks(array: Array) -> Array:
        padded = jnp.pad(array, [(0, pad)] + [(0, 0)] * (array.ndim - 1))
        return padded.reshape(num_blocks, block, *array.shape[1:])

    mask = jax.vmap(attention_mask, in_axes=(0, 0, 0, 0, None))(
        query_blocks(positions),
        blocks(positions, -1),
        query_blocks(documents),
        blocks(documents, -1),
        window,
    )
    out = jax.vmap(attend)(query_blocks(q), blocks(k, 0), blocks(v, 0), mask)
    return out.reshape(num_blocks * block, *q.shape[1:])[:steps]


class LocalAttention(eqx.Module):
    """Multi-query attention block: `num_heads` query heads share one key and value head.

    Keys and queries get RoPE on half of each head at their `segment_pos`; each token sees
    itself and the `window` tokens before it in its own document (`window=None`: the whole
    document, the MQA Transformer baseline). Projections as in the official code: q, k, v
    without bias (variance `1 / width`), the output with bias (variance
    `out_init_scale / width`).
    """

    q_proj: Linear
    k_proj: Linear
    v_proj: Linear
    out_proj: Linear
    num_heads: int = eqx.field(static=True)
    window: int | None = eqx.field(static=True)

    def __init__(
        self,
        width: int,
        num_heads: int,
        window: int | None,
        *,
        out_init_scale: float = 1.0,
        dtype=jnp.float32,
        key: PRNGKeyArray,
    ):
        if width % num_heads:
            raise InputError(f"width={width} is not divisible by num_heads={num_heads}")
        if (width // num_heads) % 4:
            raise InputError(f"head width {width // num_heads} must be divisible by 4 for RoPE")
        if window is not None and window < 1:
            raise InputError(f"window must be positive or None, got {window}")
        head_dim = width // num_heads
        q_key, k_key, v_key, out_key = jax.random.split(key, 4)
        self.q_proj = Linear(width, width, use_bias=False, dtype=dtype, key=q_key)
        self.k_proj = Linear(width, head_dim, use_bias=False, dtype=dtype, key=k_key)
        self.v_proj = Linear(width, head_dim, use_bias=False, dtype=dtype, key=v_key)
        self.out_proj = Linear(width, width, init_scale=out_init_scale, dtype=dtype, key=out_key)
        self.num_heads = num_heads
        self.window = window

    def __call__(
        self,
        x: Float[Array, "seq width"],
        segment_pos: Int[Array, " seq"],
        state: AttentionState | None = None,
        *,
        history: bool = False,
    ) -> tuple[Float[Array, "seq width"], AttentionState | AttentionHistory]:
        """Returns the outputs and the ring of the last keys and values.

        With a `state`, the new tokens continue from it: they see the keys it holds as
        the tokens just before them (unless a document starts among them), one token or
        many at a time. With `history` (and a state), the ring is replaced by an
        [`AttentionHistory`][hawkzoo.nn.AttentionHistory], the states after every token.
        """
        steps = x.shape[0]
        q = apply_rope(self.q_proj(x).reshape(steps, self.num_heads, -1), segment_pos)
        k = apply_rope(self.k_proj(x), segment_pos)
        v = self.v_proj(x)
        documents = jnp.cumsum(segment_pos == 0)
        if state is None:
            if history:
                raise InputError("an attention history needs a state to continue from")
            encoded = local_attention(q, k, v, documents, self.window)
            size = steps if self.window is None else self.window
            return self.out_proj(encoded.reshape(steps, -1)), _ring(k, v, segment_pos[-1] + 1, size)
        size = state.keys.shape[0]
        if self.window is not None and size != self.window:
            raise InputError(f"the state holds {size} keys, the window is {self.window}")
        past_k, past_v, past_documents = _in_position_order(state)
        k, v = jnp.concatenate([past_k, k]), jnp.concatenate([past_v, v])
        all_documents = jnp.concatenate([past_documents, documents])
        if steps <= size:  # a few tokens (decoding): each query against every key
            positions = jnp.arange(size + steps)
            mask = attention_mask(
                positions[size:], positions, documents, all_documents, self.window
            )
            encoded = attend(q, k, v, mask)
        else:  # a long chunk: blocked, with idle queries standing for the past
            idle = jnp.zeros((size, *q.shape[1:]), q.dtype)
            encoded = local_attention(jnp.concatenate([idle, q]), k, v, all_documents, self.window)[
                size:
            ]
        num_tokens = segment_pos[-1] + 1
        if self.window is None:
            num_tokens = eqx.error_if(
                num_tokens,
                num_tokens > size,
                f"the document outgrew global attention's state of {size} tokens: "
                "start from a state with a larger max_length",
            )
        if history:
            num_tokens = jnp.concatenate(
                [state.num_tokens[None], segment_pos[:-1] + 1, num_tokens[None]]
            )
            return self.out_proj(encoded.reshape(steps, -1)), AttentionHistory(k, v, num_tokens)
        return self.out_proj(encoded.reshape(steps, -1)), _ring(k, v, num_tokens, size)

    def init_state(self, max_length: int | None = None) -> AttentionState:
        """The state before any token: a ring of `window` slots, or for global attention
        (`window=None`) of `max_length` slots, the most tokens a document may reach."""
        size = self.window if self.window is not None else max_length
        if size is None or size < 1:
            raise InputError(
                f"global attention needs a positive max_length for its state, got {max_length}"
            )
        empty = jnp.zeros((size, self.k_proj.weight.shape[1]), self.k_proj.dtype)
        return AttentionState(empty, empty, jnp.int32(0))


def _ring(k: Array, v: Array, num_tokens: Array, size: int) -> AttentionState:
    """The state after these keys (in position order, the last at `num_tokens - 1`): the
    last `size` of them, position `p` in slot `p % size`."""
    kept = min(size, k.shape[0])

    def place(array: Array) -> Array:
        rolled = jnp.roll(array[-kept:], num_tokens, axis=0)
        return jnp.pad(rolled, [(0, size - kept), (0, 0)])

    return AttentionState(place(k), place(v), num_tokens.astype(jnp.int32))


def _in_position_order(state: AttentionState) -> tuple[Array, Array, Array]:
    """The state's keys and values oldest first, and their documents: 0 for the current
    document, -1 for slots that hold nothing of it (never written, or another document)."""
    size, num_tokens = state.keys.shape[0], state.num_tokens
    oldest = num_tokens % size
    positions = num_tokens - size + jnp.arange(size)
    documents = jnp.where(positions >= 0, 0, -1)
    return jnp.roll(state.keys, -oldest, 0), jnp.roll(state.values, -oldest, 0), documents
