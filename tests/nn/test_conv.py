"""The causal depthwise convolution: documents stay apart, chunks continue from the state."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, strategies as st

from hawkzoo.nn import Conv1D

from ..official import packed_positions

SEGMENT_POS = packed_positions([6, 2, 9])
WIDTH = 8


def random_conv(seed: int) -> Conv1D:
    conv = Conv1D(WIDTH, key=jax.random.key(seed))
    return jax.tree.map(lambda p: p + 0.5, conv)


@eqx.filter_jit
def in_two_calls(conv, x, split):
    whole, last = conv(x, SEGMENT_POS)
    first, state = conv(x[:split], SEGMENT_POS[:split])
    second, state = conv(x[split:], SEGMENT_POS[split:], state)
    return whole, last, first, second, state


@given(seed=st.integers(0, 2**16))
def test_the_last_weight_multiplies_the_current_input(seed):
    conv = random_conv(seed)
    x = jnp.zeros((5, WIDTH)).at[2].set(1.0)
    y, _ = conv(x, jnp.arange(5))
    assert jnp.allclose(y[2:], conv.weight[::-1][:3] + conv.bias[None])
    assert jnp.allclose(y[:2], conv.bias[None])


@given(seed=st.integers(0, 2**16))
def test_an_output_depends_only_on_inputs_of_its_document(seed):
    conv = random_conv(seed)
    steps = SEGMENT_POS.shape[0]
    x = jax.random.normal(jax.random.key(seed), (steps, WIDTH))
    jacobian = jax.jacfwd(lambda x: conv(x, SEGMENT_POS)[0])(x)
    sees = jnp.abs(jacobian).sum(axis=(1, 3)) > 0
    t, s = jnp.arange(steps)[:, None], jnp.arange(steps)[None, :]
    document = jnp.cumsum(SEGMENT_POS == 0)
    expected = (s <= t) & (t - s < 4) & (document[:, None] == document[None, :])
    assert (sees == expected).all()


@pytest.mark.parametrize("split", [1, 7, 16])
@given(seed=st.integers(0, 2**16))
def test_continuing_from_the_state_equals_one_call(seed, split):
    conv = random_conv(seed)
    x = jax.random.normal(jax.random.key(seed), (17, WIDTH))
    whole, last, first, second, state = in_two_calls(conv, x, split)
    assert jnp.allclose(jnp.concatenate([first, second]), whole, atol=1e-6)
    assert jnp.array_equal(state, last)
