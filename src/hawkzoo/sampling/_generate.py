"""Generation: prefill a batch of prompts, then decode, the whole loop one compiled call."""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key, PRNGKeyArray

from .._checks import integer, optional
from ..distributed import fetched
from ..errors import InputError
from ..model import LanguageModel, State
from ..sharding import split_rows
from ._choice import TokenChoice, token_log_probs
from ._prefill import Prefix, batched, continue_prefix, left_padded, prefill_batch
from ._speculative import check_draft, speculate

TokenCallback = Callable[[int, np.ndarray, np.ndarray], None]
"""Called as `on_token(step, tokens, active)` with each step's `tokens[batch]`, in order;
`active[batch]` is False for rows that had stopped before this step (their token is the pad)."""


class Generation(NamedTuple):
    """What `generate` returns, as NumPy arrays.

    - `tokens[batch, max_new_tokens]`: the new tokens of each row, `pad_id` after it stopped;
    - `lengths[batch]`: how many each row generated, its stop token included;
    - `stopped[batch]`: whether the row ended on a stop token (else it reached the limit);
    - `log_probs[batch, max_new_tokens]`: each new token's log-probability under the
      model (its softmax, before temperature, top-k or top-p), 0 after the row stopped.
    - `drafted[batch]`, `accepted[batch]`: with a draft model, the tokens it proposed for
      each row and those the model accepted (`accepted / drafted` is the acceptance
      rate); zeros without one.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    stopped: np.ndarray
    log_probs: np.ndarray
    drafted: np.ndarray
    accepted: np.ndarray

    def rows(self) -> list[list[int]]:
        """Each row's new tokens, up to and including its stop token."""
        return [row[:n].tolist() for row, n in zip(self.tokens, self.lengths, strict=True)]

    def row_log_probs(self) -> list[list[float]]:
        """Each row's `log_probs`, as `rows()` cuts its tokens."""
        return [row[:n].tolist() for row, n in zip(self.log_probs, self.lengths, strict=True)]


def generate(
    model: LanguageModel,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    key: PRNGKeyArray | Key[Array, " keys"] | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: Sequence[int] | Sequence[Sequence[int]] = (),
    max_length: int | None = None,
    pad_id: int = 0,
    on_token: TokenCallback | None = None,
    prefix: Prefix | None = None,
    draft: LanguageModel | None = None,
    draft_tokens: int = 4,
) -> Generation:
    """Continue each prompt by up to `max_new_tokens` tokens.

    The prompts (token ids, the BOS included if the model expects one) are left-padded into
    one batch; positions count from each prompt's first token, so padding changes no row.
    The prompt goes through the model in one parallel call, then tokens are decoded one at
    a time in a `jax.lax.while_loop`, until every row has produced a stop token or
    `max_new_tokens` tokens: no Python runs per token.

    - `key`: the randomness (not needed when greedy). One key gives row `i` the key
      `jax.random.fold_in(key, i)`; a batch of keys gives each row its own. A row's
      tokens depend only on its prompt, its key and the settings, never on other rows.
    - `temperature`, `top_k`, `top_p`: see [`TokenChoice`][hawkzoo.sampling.TokenChoice];
      `temperature=0` is greedy.
    - `stop_tokens`: ids that end a row, one list for every row or a list per row.
    - `max_length`: the most tokens a row may hold, prompt and new tokens together.
    - `on_token`: streaming, called on the host with each step's tokens as they come.
    - `prefix`: a [`Prefix`][hawkzoo.sampling.Prefix] every prompt continues (then a
      prompt may be empty, and holds no BOS): the prefix is prefilled once, not per row.
    - `draft`: a smaller model with the same vocabulary, for speculative decoding: each
      round it proposes `draft_tokens` tokens and the model checks them in one call.
      The tokens are distributed exactly as without it (greedy: the same tokens); only
      the speed changes. Not with `prefix` or `on_token`.
    """
    integer(1).check("max_new_tokens", max_new_tokens)
    optional(integer(1)).check("max_length", max_length)
    longest = max((len(prompt) for prompt in prompts), default=0)
    longest += 0 if prefix is None else prefix.length
    if max_length is not None and longest + max_new_tokens > max_length:
        raise InputError(
            f"a prompt of {longest} tokens and max_new_tokens={max_new_tokens} exceed "
            f"max_length={max_length}"
        )
    if draft is not None:
        check_draft(model, draft, draft_tokens)
        if prefix is not None or on_token is not None:
            raise InputError("speculative decoding (draft=) takes no prefix or on_token")
    if prefix is not None:
        state, logits, last = continue_prefix(model, prefix, prompts, max_new_tokens)
    else:
        tokens, positions = left_padded(prompts, model.config.vocab_size, pad_id)
        room = tokens.shape[1] + max_new_tokens + (0 if draft is None else draft_tokens + 1)
        tokens, positions = jnp.asarray(tokens), jnp.asarray(positions)
        state = model.init_state(room, batch_size=len(tokens))
        logits, state = prefill_batch(model, tokens, positions, state)
        last = positions[:, -1]
        if draft is not None:
            _, draft_state = prefill_batch(
                draft, tokens, positions, draft.init_state(room, batch_size=len(tokens))
            )
            return _speculative_generation(
                model, draft, state, draft_state, logits, last,
                max_new_tokens=max_new_tokens, draft_tokens=draft_tokens, key=key,
                choice=TokenChoice(temperature, top_k, top_p), stop_tokens=stop_tokens,
                pad_id=pad_id,
            )  # fmt: skip
    return decode(
        model,
        state,
        logits,
        last,
        max_new_tokens=max_new_tokens,
        key=key,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        stop_tokens=stop_tokens,
        pad_id=pad_id,
        on_token=on_token,
    )


def decode(
    model: LanguageModel,
    state: State,
    logits: Float[Array, "batch vocab"],
    positions: Int[Array, " batch"],
    *,
    max_new_tokens: int,
    key: PRNGKeyArray | Key[Array, " keys"] | None = None,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: Sequence[int] | Sequence[Sequence[int]] = (),
    pad_id: int = 0,
    on_token: TokenCallback | None = None,
) -> Generation:
    """The decoding loop of [`generate`][hawkzoo.sampling.generate], from a state you hold:
    a batched `state` (after your own prefill, or a previous turn), the `logits` of each
    row's last token and that token's `positions`. Global attention's state must have
    room for `max_new_tokens` more. The other arguments are `generate`'s.
    """
    integer(1).check("max_new_tokens", max_new_tokens)
    choice = TokenChoice(temperature, top_k, top_p)
    batch = logits.shape[0]
    out, lengths, stopped, log_probs = _decode(
        model,
        state,
        logits,
        positions,
        *_row_settings(model, key, stop_tokens, batch, choice),
        max_new_tokens,
        choice,
        pad_id,
        on_token,
    )
    out, lengths, stopped, log_probs = fetched((out, lengths, stopped, log_probs))
    no_draft = np.zeros(batch, np.int32)
    return Generation(out, lengths, stopped, log_probs, no_draft, no_draft)


def _speculative_generation(
    model: LanguageModel,
    draft: LanguageModel,
    state: State,
    draft_state: State,
    logits: Float[Array, "batch vocab"],
    positions: Int[Array, " batch"],
    *,
    max_new_tokens: int,
    draft_tokens: int,
    key: PRNGKeyArray | Key[Array, " keys"] | None,
    choice: TokenChoice,
    stop_tokens: Sequence[int] | Sequence[Sequence[int]],
    pad_id: int,
) -> Generation:
    batch = logits.shape[0]
    out, log_probs, lengths, stopped, drafted, accepted = speculate(
        model,
        draft,
        state,
        draft_state,
        logits,
        positions,
        *_row_settings(model, key, stop_tokens, batch, choice),
        max_new_tokens,
        draft_tokens,
        choice,
    )
    out, log_probs, lengths, stopped, drafted, accepted = fetched(
        (out, log_probs, lengths, stopped, drafted, accepted)
    )
    written = np.arange(max_new_tokens) < lengths[:, None]
    out = np.where(written, out[:, :max_new_tokens], pad_id)
    log_probs = np.where(written, log_probs[:, :max_new_tokens], 0.0)
    return Generation(out, lengths, stopped, log_probs, drafted, accepted)


def _row_settings(
    model: LanguageModel,
    key: PRNGKeyArray | Key[Array, " keys"] | None,
    stop_tokens: Sequence[int] | Sequence[Sequence[int]],
    batch: int,
    choice: TokenChoice,
) -> tuple[Key[Array, " batch"], Int[Array, "batch stops"]]:
    """Each row's key and stop tokens, checked, as the decoding loops take them."""
    stop = _stop_table(stop_tokens, batch, model.config.vocab_size)
    return _row_keys(key, batch, choice), jnp.asarray(stop)


def _row_keys(
    key: PRNGKeyArray | Key[Array, " keys"] | None, batch: int, choice: TokenChoice
) -> Key[Array, " batch"]:
    if key is None:
        if not choice.greedy:
            raise InputError("sampling with temperature > 0 needs a key")
        key = jax.random.key(0)
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.wrap_key_data(key) if key.shape[-1:] == (2,) else key
    if key.shape == ():
        return jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(batch))
    if key.shape != (batch,):
        raise InputError(f"key must be one key or one per prompt ({batch}), got shape {key.shape}")
    return key


def _stop_table(
    stop_tokens: Sequence[int] | Sequence[Sequence[int]], batch: int, vocab_size: int
) -> np.ndarray:
    """`stop[batch, most]`, padded with -1 (which no token equals)."""
    if len(stop_tokens) and not np.isscalar(stop_tokens[0]):
        if len(stop_tokens) != batch:
            raise InputError(
                f"stop_tokens has {len(stop_tokens)} lists for {batch} prompts: give one "
                "list for all, or one per prompt"
            )
        per_row = [list(row) for row in stop_tokens]  # pyright: ignore[reportArgumentType]
    else:
        per_row = [list(stop_tokens)] * batch  # pyright: ignore[reportArgumentType]
    stop_id = integer(0, vocab_size - 1)
    for row in per_row:
        for token in row:
            stop_id.check("a stop token", token)
    table = np.full((batch, max(1, *map(len, per_row))), -1, np.int32)
    for i, row in enumerate(per_row):
        table[i, : len(row)] = row
    return table


@eqx.filter_jit
def _decode(
    model: LanguageModel,
    state: State,
    logits: Float[Array, "batch vocab"],
    positions: Int[Array, " batch"],
    keys: Key[Array, " batch"],
    stop: Int[Array, "batch stops"],
    max_new_tokens: int,
    choice: TokenChoice,
    pad_id: int,
    on_token: TokenCallback | None,
) -> tuple[
    Int[Array, "batch new"], Int[Array, " batch"], Bool[Array, " batch"], Float[Array, "batch new"]
]:
    batch = logits.shape[0]
    batched_model = batched(model)

    def not_done(carry) -> Array:
        step, *_, active = carry
        return (step < max_new_tokens) & active.any()

    def next_token(carry):
        step, logits, position, state, out, log_probs, lengths, active = carry
        step_keys = jax.vmap(jax.random.fold_in, (0, None))(keys, step)
        token = jnp.where(active, jax.vmap(choice)(logits, step_keys), pad_id).astype(jnp.int32)
        if on_token is not None:
            jax.debug.callback(_on_host(on_token), step, token, active, ordered=True)
        out = out.at[:, step].set(token)
        log_prob = token_log_probs(logits, token)
        log_probs = log_probs.at[:, step].set(jnp.where(active, log_prob, 0.0))
        lengths = lengths + active
        active = active & ~(token[:, None] == stop).any(-1)
        position = position + 1
        logits, state = batched_model(token[:, None], position[:, None], state)
        return step + 1, logits[:, -1], position, state, out, log_probs, lengths, active

    out = jnp.full((batch, max_new_tokens), pad_id, jnp.int32)
    log_probs = jnp.zeros((batch, max_new_tokens), jnp.float32)
    lengths = jnp.zeros(batch, jnp.int32)
    active = jnp.ones(batch, bool)
    rows = split_rows((logits, positions, state, out, log_probs, lengths, active))
    carry = (jnp.int32(0), *rows)
    *_, out, log_probs, lengths, still_active = jax.lax.while_loop(not_done, next_token, carry)
    return out, lengths, ~still_active, log_probs


def _on_host(on_token: TokenCallback) -> Callable[[Array, Array, Array], None]:
    return lambda step, token, active: on_token(int(step), np.asarray(token), np.asarray(active))
