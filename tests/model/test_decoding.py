"""Decoding from a state: prefill, step-by-step decode, chunks, padding, the global cache."""

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo.model import LanguageModel, state_after
from hawkzoo.nn import AttentionState, RecurrentState

from ..official import small_config

WINDOW = 4  # small_config's: lengths below run up to eight windows past it
LENGTH = 36
TOKENS = jax.random.randint(jax.random.key(3), (LENGTH,), 0, 64)
POSITIONS = jnp.arange(LENGTH)


# The MQA baseline compiles a decoding loop over a cache as long as the row: slow step.
@pytest.fixture(scope="module", params=["griffin", pytest.param("mqa", marks=pytest.mark.slow)])
def model(request) -> LanguageModel:
    """Griffin (recurrent and local attention) and the MQA baseline (global attention)."""
    window = None if request.param == "mqa" else WINDOW
    return LanguageModel(
        small_config(request.param, attention_window=window), key=jax.random.key(0)
    )


@eqx.filter_jit
def one_call(model, tokens, positions):
    return model(tokens, positions)


@eqx.filter_jit
def prefill(model, tokens, positions, max_length):
    return model(tokens, positions, model.init_state(max_length))


@eqx.filter_jit
def decode(model, state, tokens, positions):
    """Token by token, each step a one-token call with the state."""

    def step(state, token_and_position):
        token, position = token_and_position
        logits, state = model(token[None], position[None], state)
        return state, logits[0]

    state, logits = jax.lax.scan(step, state, (tokens, positions))
    return logits, state


def assert_trees_close(a, b, atol=1e-5):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), atol=atol)


@given(prompt=st.integers(1, 3 * WINDOW + 1))
def test_prefill_then_decoding_token_by_token_equals_one_call(model, prompt):
    whole, final = one_call(model, TOKENS, POSITIONS)
    logits, state = prefill(model, TOKENS[:prompt], POSITIONS[:prompt], LENGTH)
    decoded, state = decode(model, state, TOKENS[prompt:], POSITIONS[prompt:])
    np.testing.assert_allclose(jnp.concatenate([logits, decoded]), whole, atol=1e-5)
    if model.config.attention_window is not None:  # global attention's state is sized apart
        assert_trees_close(state, final)


@given(cuts=st.lists(st.integers(1, LENGTH - 1), min_size=1, max_size=3, unique=True))
def test_any_split_into_chunks_gives_the_same_logits_and_state(model, cuts):
    """Chunked prefill: continuing with several tokens at once, shorter or longer than the
    window, from the state of the chunks before."""
    whole, final = one_call(model, TOKENS, POSITIONS)
    bounds = [0, *sorted(cuts), LENGTH]
    state, pieces = model.init_state(LENGTH), []
    for start, stop in itertools.pairwise(bounds):
        logits, state = eqx.filter_jit(model)(TOKENS[start:stop], POSITIONS[start:stop], state)
        pieces.append(logits)
    np.testing.assert_allclose(jnp.concatenate(pieces), whole, atol=1e-5)
    if model.config.attention_window is not None:
        assert_trees_close(state, final)


def test_decoding_far_past_the_window_equals_recomputation():
    model = LanguageModel(small_config("griffin"), key=jax.random.key(1))
    length = 40 * WINDOW
    tokens = jax.random.randint(jax.random.key(4), (length,), 0, 64)
    positions = jnp.arange(length)
    logits, state = prefill(model, tokens[:3], positions[:3], None)
    decoded, _ = decode(model, state, tokens[3:], positions[3:])
    whole, _ = one_call(model, tokens, positions)
    np.testing.assert_allclose(jnp.concatenate([logits, decoded]), whole, atol=1e-5)


@eqx.filter_jit
def rolled_back(model, tokens, positions, state):
    """The chunk in one call with its history, and the state after each of its first `n`
    tokens for every `n`, stacked, without another call."""
    logits, history = model(tokens, positions, state, history=True)
    return logits, jax.vmap(state_after, (None, 0))(history, jnp.arange(len(tokens) + 1))


@eqx.filter_jit
def states_token_by_token(model, state, tokens, positions):
    def step(state, token_and_position):
        token, position = token_and_position
        _, state = model(token[None], position[None], state)
        return state, state

    return jax.lax.scan(step, state, (tokens, positions))[1]


@given(tokens=st.lists(st.integers(0, 63), min_size=LENGTH, max_size=LENGTH))
def test_a_history_rolls_back_to_the_state_after_any_token_of_its_chunk(model, tokens):
    """A chunk longer than the window, after a prompt that filled it: its history gives
    the state after each of its tokens as decoding them one by one does."""
    tokens, prompt = jnp.asarray(tokens), 2 * WINDOW + 1
    chunk = slice(prompt, prompt + WINDOW + 3)
    _, state = prefill(model, tokens[:prompt], POSITIONS[:prompt], LENGTH)
    logits, states = rolled_back(model, tokens[chunk], POSITIONS[chunk], state)
    plain_logits, _ = one_call_with(model, tokens[chunk], POSITIONS[chunk], state)
    np.testing.assert_array_equal(logits, plain_logits)
    decoded = states_token_by_token(model, state, tokens[chunk], POSITIONS[chunk])
    before = jax.tree.map(lambda leaf: leaf[None], state)
    want = jax.tree.map(lambda *leaves: jnp.concatenate(leaves), before, decoded)
    assert jax.tree.structure(states) == jax.tree.structure(want)
    for got, expected in zip(jax.tree.leaves(states), jax.tree.leaves(want), strict=True):
        assert got.dtype == expected.dtype and got.shape == expected.shape
    assert_trees_close(states, want)


@given(prompt=st.integers(1, 2 * WINDOW), padding=st.integers(1, 2 * WINDOW))
def test_a_left_padded_prompt_decodes_as_it_does_alone(model, prompt, padding):
    """Padding carries position -1, so the recurrence restarts at the prompt, and neither
    the convolution (even for prompts shorter than its width) nor attention sees the pads."""
    pads = jnp.full((padding,), 7)  # a real token id: only the positions mark it as padding
    padded_tokens = jnp.concatenate([pads, TOKENS[:prompt]])
    padded_positions = jnp.concatenate([jnp.full((padding,), -1), POSITIONS[:prompt]])
    rest = slice(prompt, prompt + 8)
    alone, alone_state = prefill(model, TOKENS[:prompt], POSITIONS[:prompt], LENGTH)
    alone_decoded, _ = decode(model, alone_state, TOKENS[rest], POSITIONS[rest])
    padded, padded_state = prefill(model, padded_tokens, padded_positions, LENGTH + padding)
    padded_decoded, _ = decode(model, padded_state, TOKENS[rest], POSITIONS[rest])
    np.testing.assert_allclose(padded[padding:], alone, atol=1e-5)
    np.testing.assert_allclose(padded_decoded, alone_decoded, atol=1e-5)


def test_a_batched_state_decodes_each_row_as_alone(model):
    tokens = jnp.stack([TOKENS, TOKENS[::-1], jnp.roll(TOKENS, 5)])
    positions = jnp.broadcast_to(POSITIONS, tokens.shape)
    logits, _ = eqx.filter_jit(lambda m, t, p, s: jax.vmap(lambda t, p, s: m(t, p, s))(t, p, s))(
        model, tokens, positions, model.init_state(LENGTH, batch_size=3)
    )
    for row in range(3):
        np.testing.assert_allclose(
            logits[row], one_call(model, tokens[row], POSITIONS)[0], atol=1e-5
        )


def test_state_shapes_are_the_official_cache_layout():
    config = small_config("griffin")
    state = LanguageModel(config, key=jax.random.key(0)).init_state(batch_size=2)
    recurrent, _, attention = state
    assert isinstance(recurrent, RecurrentState) and isinstance(attention, AttentionState)
    assert recurrent.conv.shape == (2, config.conv_width - 1, config.lru_width)
    assert recurrent.rg_lru.shape == (2, config.lru_width) and recurrent.rg_lru.dtype == jnp.float32
    assert attention.keys.shape == attention.values.shape == (2, WINDOW, config.head_dim)
    assert attention.num_tokens.shape == (2,) and attention.num_tokens.dtype == jnp.int32


def test_global_attention_needs_a_max_length_and_refuses_to_outgrow_it():
    model = LanguageModel(small_config("mqa", attention_window=None), key=jax.random.key(0))
    with pytest.raises(ValueError, match="max_length"):
        model.init_state()
    (attention, *_) = model.init_state(10)
    assert isinstance(attention, AttentionState) and attention.keys.shape[0] == 10
    _, state = prefill(model, TOKENS[:8], POSITIONS[:8], 10)
    with pytest.raises(Exception, match="outgrew global attention's state of 10 tokens"):
        jax.block_until_ready(one_call_with(model, TOKENS[8:11], POSITIONS[8:11], state))


@eqx.filter_jit
def one_call_with(model, tokens, positions, state):
    return model(tokens, positions, state)


def test_a_state_of_another_window_is_refused():
    model = LanguageModel(small_config("griffin"), key=jax.random.key(0))
    wider = LanguageModel(small_config("griffin", attention_window=8), key=jax.random.key(0))
    with pytest.raises(
        ValueError,
        match=r"state\[2\].keys has shape \(8, 16\), one row of this model's \(4, 16\)",
    ):
        model(TOKENS[:2], POSITIONS[:2], wider.init_state())
