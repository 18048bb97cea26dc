"""Choosing a token: greedy, temperature, top-k and top-p."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo.sampling import TokenChoice

VOCAB = 12
logit_rows = st.lists(
    st.floats(-8, 8, allow_nan=False, width=32), min_size=VOCAB, max_size=VOCAB, unique=True
)


def draws(choice: TokenChoice, logits, count: int = 2000) -> np.ndarray:
    keys = jax.random.split(jax.random.key(0), count)
    return np.asarray(jax.jit(jax.vmap(choice, (None, 0)))(jnp.asarray(logits), keys))


@given(logits=logit_rows)
def test_greedy_takes_the_most_likely_token(logits):
    assert int(TokenChoice(temperature=0.0)(jnp.asarray(logits), jax.random.key(0))) == np.argmax(
        logits
    )


@given(logits=logit_rows, top_k=st.integers(1, VOCAB))
def test_top_k_samples_only_the_k_most_likely(logits, top_k):
    allowed = set(np.argsort(logits)[-top_k:].tolist())
    seen = set(draws(TokenChoice(top_k=top_k), logits, 500).tolist())
    assert seen <= allowed


@given(logits=logit_rows, top_p=st.floats(0.05, 1.0))
def test_top_p_samples_the_smallest_set_that_reaches_p(logits, top_p):
    order = np.argsort(logits)[::-1]
    probs = np.asarray(jax.nn.softmax(jnp.asarray(logits)[order]), np.float64)
    before = np.cumsum(probs) - probs
    nucleus = set(order[before < top_p - 1e-6].tolist())  # float32 softmax at the edge
    edge = set(order[np.abs(before - top_p) <= 1e-6].tolist())
    seen = set(draws(TokenChoice(top_p=top_p), logits, 500).tolist())
    assert seen <= nucleus | edge
    assert order[0] in seen or probs[0] < 0.05


def test_temperature_sharpens_and_flattens_the_distribution():
    logits = jnp.asarray([2.0, 1.0, 0.0, -1.0])
    for temperature in [0.5, 1.0, 2.0]:
        counts = np.bincount(draws(TokenChoice(temperature), logits, 20_000), minlength=4)
        expected = np.asarray(jax.nn.softmax(logits / temperature)) * 20_000
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected) + 5)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(temperature=-1.0), "temperature must be a finite number ≥ 0, got -1.0"),
        (dict(temperature=float("inf")), "temperature must be a finite number ≥ 0, got inf"),
        (dict(top_k=2.5), "top_k must be a positive integer or None, got 2.5"),
        (dict(top_k=0), "top_k must be a positive integer"),
        (dict(top_p=0.0), r"top_p must be a number in \(0, 1\] or None"),
        (dict(top_p=1.5), r"top_p must be a number in \(0, 1\] or None"),
    ],
)
def test_bad_settings_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        TokenChoice(**fields)
