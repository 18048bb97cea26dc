"""Prompts into states: a batch prefilled in one call, and a prefix prefilled once and
continued by many prompts."""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._checks import is_integer
from ..errors import InputError
from ..model import LanguageModel, State, broadcast_state
from ..nn import AttentionState
from ..sharding import batch_axis, split_rows

PROMPT_BUCKET = 16
"""Prompts are left-padded to a multiple of this, so that nearby lengths share a program."""


class Prefix(NamedTuple):
    """A prompt prefilled once, to be continued by many (a system prompt, few-shot
    examples): its state (one row, unbatched), the logits of its last token, and its
    length. [`prefill`][hawkzoo.sampling.prefill] makes one; `generate(..., prefix=...)`
    continues it. Forking it costs nothing: the recurrent state and the local-attention
    ring have a fixed size."""

    state: State
    logits: Float[Array, " vocab"]
    length: int


def prefill(
    model: LanguageModel, prompt: Sequence[int], *, max_length: int | None = None
) -> Prefix:
    """`prompt` (token ids, its BOS included) prefilled, to continue many times.

    `max_length`: for global attention (the MQA baseline) only, the most tokens a
    continuation may reach, this prefix, the prompt and the new tokens together."""
    tokens, positions = left_padded([prompt], model.config.vocab_size, pad_id=0)
    state = model.init_state(max(max_length or 0, tokens.shape[1]), batch_size=1)
    logits, state = prefill_batch(model, jnp.asarray(tokens), jnp.asarray(positions), state)
    return Prefix(jax.tree.map(lambda leaf: leaf[0], state), logits[0], len(prompt))


def continue_prefix(
    model: LanguageModel, prefix: Prefix, prompts: Sequence[Sequence[int]], max_new_tokens: int
) -> tuple[State, Float[Array, "batch vocab"], Int[Array, " batch"]]:
    """The batched state after `prefix` then each prompt (possibly empty), the logits of
    each row's last token and that token's position. The tokens all prompts have are
    prefilled in one call; the rest, row by row as far as each goes, in one loop."""
    if not isinstance(prefix, Prefix):
        raise InputError(f"prefix must be a Prefix (from prefill), got {type(prefix).__name__}")
    model.check_state(prefix.state)
    rows = checked_prompts(prompts, model.config.vocab_size, allow_empty=True)
    lengths = np.array([len(row) for row in rows])
    _check_room(model, prefix, int(lengths.max()) + max_new_tokens)
    state = broadcast_state(prefix.state, len(rows))
    logits = jnp.broadcast_to(prefix.logits, (len(rows), *prefix.logits.shape))
    common = int(lengths.min())
    if common:
        tokens = jnp.asarray(np.stack([row[:common] for row in rows]))
        positions = jnp.broadcast_to(prefix.length + jnp.arange(common), tokens.shape)
        logits, state = prefill_batch(model, tokens, positions, state)
    if lengths.max() > common:
        rest = int(lengths.max()) - common
        tokens = np.zeros((len(rows), rest), np.int32)
        for i, row in enumerate(rows):
            tokens[i, : len(row) - common] = row[common:]
        active = jnp.asarray(np.arange(rest) < (lengths - common)[:, None])
        positions = prefix.length + common + jnp.arange(rest)
        logits, state = _extend(model, state, logits, jnp.asarray(tokens), positions, active)
    return state, logits, jnp.asarray(prefix.length + lengths - 1, jnp.int32)


def left_padded(
    prompts: Sequence[Sequence[int]], vocab_size: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """`tokens[batch, length]` left-padded with `pad_id`, and positions: -1 on the padding,
    0 at each prompt's first token."""
    rows = checked_prompts(prompts, vocab_size, allow_empty=False)
    if not (is_integer(pad_id) and 0 <= pad_id < vocab_size):
        raise InputError(f"pad_id={pad_id} lies outside the vocabulary of {vocab_size}")
    length = -(-max(len(row) for row in rows) // PROMPT_BUCKET) * PROMPT_BUCKET
    tokens = np.full((len(rows), length), pad_id, np.int32)
    positions = np.full((len(rows), length), -1, np.int32)
    for i, row in enumerate(rows):
        tokens[i, length - len(row) :] = row
        positions[i, length - len(row) :] = np.arange(len(row))
    return tokens, positions


def checked_prompts(
    prompts: Sequence[Sequence[int]], vocab_size: int, *, allow_empty: bool
) -> list[np.ndarray]:
    """The prompts as arrays of token ids, each checked."""
    if isinstance(prompts, str | bytes) or not len(prompts):
        raise InputError("prompts must be a non-empty list of token-id lists")
    rows = []
    for i, prompt in enumerate(prompts):
        row = np.asarray(prompt, dtype=None if len(prompt) else np.int32)
        if row.ndim != 1 or (row.size and not np.issubdtype(row.dtype, np.integer)):
            raise InputError(f"prompt {i} is not a list of token ids")
        if not row.size and not allow_empty:
            raise InputError(f"prompt {i} is empty: a prompt needs at least one token (its BOS)")
        if row.size and (row.min() < 0 or row.max() >= vocab_size):
            raise InputError(f"prompt {i} has token ids outside [0, vocab_size={vocab_size})")
        rows.append(row)
    return rows


def _check_room(model: LanguageModel, prefix: Prefix, more: int) -> None:
    """Global attention keeps every token in a ring preallocated by `prefill`."""
    if model.config.attention_window is not None:
        return
    for block_state in prefix.state:
        if isinstance(block_state, AttentionState) and prefix.length + more > len(block_state.keys):
            raise InputError(
                f"the prefix has room for {len(block_state.keys)} tokens in all, and "
                f"{prefix.length} + {more} are asked for: prefill it with a larger max_length"
            )


def batched(model: LanguageModel) -> Callable[[Array, Array, State], tuple[Array, State]]:
    """The model over a batch of rows (tokens, positions, state), rows split over the mesh's
    batch axis when one is set."""
    return jax.vmap(lambda t, p, s: model(t, p, s), spmd_axis_name=batch_axis())


@eqx.filter_jit
def prefill_batch(
    model: LanguageModel,
    tokens: Int[Array, "batch prompt"],
    positions: Int[Array, "batch prompt"],
    state: State,
) -> tuple[Float[Array, "batch vocab"], State]:
    """Every row through the model in one call: the last token's logits and the state."""
    tokens, positions, state = split_rows((tokens, positions, state))
    logits, state = batched(model)(tokens, positions, state)
    return logits[:, -1], state


@eqx.filter_jit
def _extend(
    model: LanguageModel,
    state: State,
    logits: Float[Array, "batch vocab"],
    tokens: Int[Array, "batch rest"],
    positions: Int[Array, " rest"],
    active: Bool[Array, "batch rest"],
) -> tuple[Float[Array, "batch vocab"], State]:
    """Each row's tokens one at a time, a row's state and logits kept where it has none."""
    batched_model = batched(model)

    def step(carry, inputs):
        logits, state = carry
        token, position, on = inputs
        new_logits, new_state = batched_model(
            token[:, None], jnp.broadcast_to(position, token.shape)[:, None], state
        )

        def keep(new: Array, old: Array) -> Array:
            return jnp.where(on.reshape(-1, *(1,) * (old.ndim - 1)), new, old)

        return (keep(new_logits[:, -1], logits), jax.tree.map(keep, new_state, state)), None

    (logits, state), _ = jax.lax.scan(step, (logits, state), (tokens.T, positions, active.T))
    return logits, state
