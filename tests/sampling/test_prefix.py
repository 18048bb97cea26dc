"""States as values: a fork continues as the original, and a prefix prefilled once
continues as the whole prompt does."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo.errors import InputError
from hawkzoo.model import LanguageModel, concatenate_states, select_rows
from hawkzoo.sampling import decode, generate, prefill
from hawkzoo.sampling._prefill import continue_prefix, left_padded, prefill_batch

from ..official import small_config

PREFIX_LENGTH, CONTINUATIONS = 9, (0, 3, 6)  # past the window of 4; empty, short, long
TOKEN = st.integers(3, 63)


@pytest.fixture(scope="module")
def griffin() -> LanguageModel:
    return LanguageModel(small_config("griffin"), key=jax.random.key(0))


def _prefilled(model: LanguageModel, prompts: list[list[int]]):
    tokens, positions = left_padded(prompts, model.config.vocab_size, pad_id=0)
    state = model.init_state(tokens.shape[1] + 8, batch_size=len(prompts))
    logits, state = prefill_batch(model, jnp.asarray(tokens), jnp.asarray(positions), state)
    return state, logits, jnp.asarray(positions[:, -1])


def _equal(a, b) -> bool:
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


@given(
    prompts=st.lists(st.lists(TOKEN, min_size=5, max_size=5), min_size=3, max_size=3),
    rows=st.lists(st.integers(0, 2), min_size=3, max_size=3),
)
def test_forked_rows_continue_exactly_as_the_original(griffin, prompts, rows):
    state, logits, positions = _prefilled(griffin, prompts)
    rows = np.asarray(rows)
    forked = select_rows(state, rows)
    assert _equal(forked, concatenate_states([select_rows(state, row) for row in rows]))
    original = decode(griffin, state, logits, positions, max_new_tokens=6, temperature=0.0)
    fork = decode(griffin, forked, logits[rows], positions[rows], max_new_tokens=6, temperature=0.0)
    assert np.array_equal(fork.tokens, original.tokens[rows])
    np.testing.assert_allclose(fork.log_probs, original.log_probs[rows], rtol=1e-6, atol=1e-6)


@given(
    prefix=st.lists(TOKEN, min_size=PREFIX_LENGTH, max_size=PREFIX_LENGTH),
    rest=st.lists(TOKEN, min_size=max(CONTINUATIONS), max_size=max(CONTINUATIONS)),
)
def test_a_prefix_then_its_continuations_equal_each_whole_prompt(griffin, prefix, rest):
    """Shared tokens in one call, the ragged rest row by row: as prefilling each whole."""
    continuations = [rest[:n] for n in CONTINUATIONS]
    state, logits, last = continue_prefix(griffin, prefill(griffin, prefix), continuations, 8)
    whole_state, whole_logits, _ = _prefilled(griffin, [prefix + c for c in continuations])
    assert last.tolist() == [PREFIX_LENGTH + n - 1 for n in CONTINUATIONS]
    np.testing.assert_allclose(logits, whole_logits, rtol=1e-4, atol=1e-4)
    # global attention aside, a state is its fixed-size arrays: equal up to rounding
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(whole_state), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@given(
    prefix=st.lists(TOKEN, min_size=PREFIX_LENGTH, max_size=PREFIX_LENGTH),
    rest=st.lists(TOKEN, min_size=max(CONTINUATIONS), max_size=max(CONTINUATIONS)),
)
def test_the_prefix_cache_gives_the_tokens_of_no_cache(griffin, prefix, rest):
    continuations = [rest[:n] for n in CONTINUATIONS]
    cached = generate(
        griffin, continuations, prefix=prefill(griffin, prefix), max_new_tokens=8, temperature=0.0
    )
    whole = generate(
        griffin, [prefix + c for c in continuations], max_new_tokens=8, temperature=0.0
    )
    assert cached.rows() == whole.rows()


def test_a_prefix_of_another_model_or_a_batched_one_is_refused(griffin):
    other = LanguageModel(small_config("hawk"), key=jax.random.key(1))
    with pytest.raises(InputError, match=r"state\[\d\] is .*a state of another model"):
        generate(griffin, [[5]], prefix=prefill(other, [2, 5]), max_new_tokens=2, temperature=0.0)
    own = prefill(griffin, [2, 5])
    batched = own._replace(state=select_rows(_prefilled(griffin, [[2, 5]] * 2)[0], [0, 1]))
    with pytest.raises(InputError, match=r"a batched state goes with jax\.vmap"):
        generate(griffin, [[5]], prefix=batched, max_new_tokens=2, temperature=0.0)
    with pytest.raises(InputError, match=r"rows \[2\] fall outside a batch of 2"):
        select_rows(batched.state, [2])
