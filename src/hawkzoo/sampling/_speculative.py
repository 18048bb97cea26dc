"""Speculative decoding: a draft model proposes tokens, the model checks them all in one
call and rolls its state back to the last token it accepts."""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key

from .._checks import integer
from ..errors import InputError
from ..model import LanguageModel, State, state_after
from ..sharding import split_rows
from ._choice import TokenChoice, token_log_probs
from ._prefill import batched


def check_draft(model: LanguageModel, draft: LanguageModel, draft_tokens: int) -> None:
    """Refuse a draft that cannot propose the model's tokens."""
    if not isinstance(draft, LanguageModel):
        raise InputError(f"draft must be a LanguageModel, got {type(draft).__name__}")
    if draft.config.vocab_size != model.config.vocab_size:
        raise InputError(
            f"the draft's vocabulary has {draft.config.vocab_size} tokens and the model's "
            f"{model.config.vocab_size}: a draft must share the model's tokenizer"
        )
    integer(1).check("draft_tokens", draft_tokens)


@eqx.filter_jit
def speculate(
    model: LanguageModel,
    draft: LanguageModel,
    state: State,
    draft_state: State,
    logits: Float[Array, "batch vocab"],
    positions: Int[Array, " batch"],
    keys: Key[Array, " batch"],
    stop: Int[Array, "batch stops"],
    max_new_tokens: int,
    draft_tokens: int,
    choice: TokenChoice,
) -> tuple[Array, ...]:
    """The decoding loop with a draft. Each round the draft proposes `draft_tokens`
    tokens one at a time; the model runs the last token and them in one call, keeps the
    longest run it accepts and adds one token of its own (standard speculative rejection
    sampling: the tokens are distributed as the model's own); both states roll back to
    that token. No Python runs per round.

    `state` and `draft_state` have seen each prompt; `logits` and `positions` are the
    model's at each prompt's last token. Returns `(tokens, log_probs, lengths, stopped,
    drafted, accepted)`; `tokens` and `log_probs` have `draft_tokens + 1` spare columns.
    """
    batch, k = logits.shape[0], draft_tokens
    rows, columns = jnp.arange(batch), jnp.arange(k + 1)[None]
    with_history = jax.vmap(lambda t, p, s: model(t, p, s, history=True))
    write = jax.vmap(lambda row, new, at: jax.lax.dynamic_update_slice(row, new, (at,)))

    def is_stop(tokens: Array) -> Array:
        return (tokens[..., None] == stop.reshape(batch, *(1,) * (tokens.ndim - 1), -1)).any(-1)

    def not_done(carry) -> Array:
        return carry[-1].any()

    def round_(carry):
        (
            step,
            last,
            position,
            state,
            draft_state,
            out,
            log_probs,
            lengths,
            counts,
            stopped,
            active,
        ) = carry
        round_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, step)
        draft_keys, accept_keys, own_keys = jax.vmap(lambda key: jax.random.split(key, 3), 0, 1)(
            round_keys
        )
        proposed, q, draft_states = _propose(
            draft, choice, last, position, draft_state, draft_keys, k
        )
        model_logits, history = with_history(
            jnp.concatenate([last[:, None], proposed], axis=1), position[:, None] + columns, state
        )
        p = choice.probabilities(model_logits)
        accepted = _accepted(p[:, :k], q, proposed, accept_keys)
        q_next = jnp.pad(q, ((0, 0), (0, 1), (0, 0)))[rows, accepted]  # none after the k-th
        residual = jnp.maximum(p[rows, accepted] - q_next, 0.0)
        own = jax.vmap(jax.random.categorical)(own_keys, jnp.log(residual)).astype(jnp.int32)
        tokens = jnp.where(
            columns < accepted[:, None], jnp.pad(proposed, ((0, 0), (0, 1))), own[:, None]
        )
        # Commit up to a stop token, and at most max_new_tokens in all.
        stops = is_stop(tokens) & (columns <= accepted[:, None])
        first_stop = jnp.argmax(stops, axis=1)
        kept = jnp.where(stops.any(1), first_stop + 1, accepted + 1)
        kept = jnp.where(active, jnp.minimum(kept, max_new_tokens - lengths), 0)
        stopped = stopped | (stops.any(1) & (first_stop < kept))
        out = write(out, tokens, lengths)
        log_probs = write(log_probs, token_log_probs(model_logits, tokens), lengths)
        counts = counts + jnp.where(active, jnp.stack([jnp.full_like(accepted, k), accepted]), 0)
        lengths = lengths + kept
        state = jax.vmap(state_after)(history, accepted + 1)
        draft_state = jax.tree.map(lambda leaf: leaf[accepted, rows], draft_states)
        position = jnp.where(active, position + accepted + 1, position)
        active = active & ~stopped & (lengths < max_new_tokens)
        return (step + 1, own, position, state, draft_state, out, log_probs, lengths, counts,
                stopped, active)  # fmt: skip

    first_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, 0)
    first = jax.vmap(choice)(logits, first_keys).astype(jnp.int32)
    width = max_new_tokens + k + 1
    out = jnp.zeros((batch, width), jnp.int32).at[:, 0].set(first)
    log_probs = jnp.zeros((batch, width), jnp.float32).at[:, 0].set(token_log_probs(logits, first))
    stopped = is_stop(first)
    carry = split_rows(
        (first, positions + 1, state, draft_state, out, log_probs, jnp.ones(batch, jnp.int32))
    )
    counts = jnp.zeros((2, batch), jnp.int32)
    active = ~stopped & (max_new_tokens > 1)
    *_, out, log_probs, lengths, counts, stopped, _ = jax.lax.while_loop(
        not_done, round_, (jnp.int32(1), *carry, counts, stopped, active)
    )
    return out, log_probs, lengths, stopped, counts[0], counts[1]


def _propose(
    draft: LanguageModel,
    choice: TokenChoice,
    last: Int[Array, " batch"],
    position: Int[Array, " batch"],
    state: State,
    keys: Key[Array, " batch"],
    k: int,
) -> tuple[Int[Array, "batch k"], Float[Array, "batch k vocab"], State]:
    """The draft's `k` tokens after `last`, the distributions they were drawn from, and
    its state after `last` and each of them (`k + 1` states, stacked first)."""
    batched_draft = batched(draft)

    def step(carry, j):
        token, state = carry
        logits, state = batched_draft(token[:, None], (position + j)[:, None], state)
        step_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, j)
        token = jax.vmap(choice)(logits[:, -1], step_keys).astype(jnp.int32)
        return (token, state), (token, choice.probabilities(logits[:, -1]), state)

    _, (tokens, q, states) = jax.lax.scan(step, (last, state), jnp.arange(k + 1))
    return tokens[:k].T, jnp.moveaxis(q[:k], 0, 1), states


def _accepted(
    p: Float[Array, "batch k vocab"],
    q: Float[Array, "batch k vocab"],
    proposed: Int[Array, "batch k"],
    keys: Key[Array, " batch"],
) -> Int[Array, " batch"]:
    """How many proposed tokens lead each row, each kept with probability `min(1, p/q)`."""
    p_proposed, q_proposed = (
        jnp.take_along_axis(probs, proposed[..., None], -1)[..., 0] for probs in (p, q)
    )
    u = jax.vmap(lambda key: jax.random.uniform(key, proposed.shape[1:]))(keys)
    return jnp.cumprod(u * q_proposed < p_proposed, axis=1).sum(1)
