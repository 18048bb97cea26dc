"""The RG-LRU and CG-LRU layers: the official layer's numbers, resets, gradients, init."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, strategies as st
from recurrentgemma import common
from recurrentgemma.jax import layers

from hawkzoo import backends
from hawkzoo.model import cast
from hawkzoo.nn import RGLRU, sqrt_bounded_gradient

from ..backends.test_selection import traced_backends
from ..official import packed_positions

WIDTH, BLOCKS = 16, 2
SEGMENT_POS = packed_positions([5, 1, 10])


def official_layer(complex_gates: bool, x, segment_pos):
    layer = layers.RGLRU(
        width=WIDTH,
        num_heads=BLOCKS,
        only_real=not complex_gates,
        scan_type=common.ScanType.LINEAR_NATIVE,
    )
    with jax.numpy_rank_promotion("allow"):
        params = layer.init(jax.random.key(0), x[None], segment_pos[None])["params"]
        params = jax.tree.map(
            lambda p: p + 0.3 * jnp.sin(jnp.arange(p.size)).reshape(p.shape), params
        )
        y, h_last = layer.apply({"params": params}, x[None], segment_pos[None])  # pyright: ignore[reportGeneralTypeIssues]
    return params, jnp.asarray(y)[0], jnp.asarray(h_last)[0]


def from_official(params, complex_gates: bool) -> RGLRU:
    layer = RGLRU(WIDTH, BLOCKS, complex_gates=complex_gates, key=jax.random.key(1))
    return eqx.tree_at(
        lambda m: (
            m.decay_param,
            m.phase_param,
            m.input_gate.weight,
            m.input_gate.bias,
            m.decay_gate.weight,
            m.decay_gate.bias,
        ),
        layer,
        (
            params["a_param"],
            params.get("a_imag_param"),
            params["input_gate"]["w"],
            params["input_gate"]["b"],
            params["a_gate"]["w"],
            params["a_gate"]["b"],
        ),
        is_leaf=lambda leaf: leaf is None,
    )


@pytest.mark.parametrize("complex_gates", [False, True], ids=["rg-lru", "cg-lru"])
def test_matches_the_official_layer(complex_gates):
    # From a zero state: given a complex initial state, the official scan accumulates in
    # float32 and drops the imaginary part, so the official layer is no oracle there.
    x = jax.random.normal(jax.random.key(2), (16, WIDTH))
    params, y, h_last = official_layer(complex_gates, x, SEGMENT_POS)
    ours = from_official(params, complex_gates)
    assert ours.complex_gates == complex_gates
    our_y, our_h_last = ours(x, SEGMENT_POS)
    assert jnp.allclose(our_y, y, atol=1e-6) and jnp.allclose(our_h_last, h_last, atol=1e-6)
    assert our_h_last.dtype == jnp.float32


@pytest.mark.parametrize("complex_gates", [False, True], ids=["rg-lru", "cg-lru"])
@given(split=st.integers(1, 15), seed=st.integers(0, 2**16))
def test_continuing_from_the_state_equals_one_call(complex_gates, split, seed):
    layer = RGLRU(WIDTH, BLOCKS, complex_gates=complex_gates, key=jax.random.key(seed))
    x = jax.random.normal(jax.random.key(seed + 1), (16, WIDTH))
    whole, h_last = layer(x, SEGMENT_POS)
    first, state = layer(x[:split], SEGMENT_POS[:split])
    second, state = layer(x[split:], SEGMENT_POS[split:], state)
    assert jnp.allclose(jnp.concatenate([first, second]), whole, atol=1e-5)
    assert jnp.allclose(state, h_last, atol=1e-5)


@given(seed=st.integers(0, 2**16))
def test_a_document_start_outputs_the_gated_input(seed):
    layer = RGLRU(WIDTH, BLOCKS, key=jax.random.key(seed))
    x = jax.random.normal(jax.random.key(seed + 1), (16, WIDTH))
    y, _ = layer(x, SEGMENT_POS, state=jnp.full((WIDTH,), 5.0))
    gated = jax.nn.sigmoid(layer.input_gate(x)) * x
    starts = SEGMENT_POS == 0
    assert jnp.allclose(y[starts], gated[starts], atol=1e-6)
    # Elsewhere the state carries over: the outputs differ from the gated input.
    assert not jnp.allclose(y[~starts], gated[~starts], atol=1e-3)


def test_bfloat16_inputs_keep_a_float32_state():
    layer = cast(RGLRU(WIDTH, BLOCKS, key=jax.random.key(0)), jnp.bfloat16)
    y, h_last = layer(jnp.ones((8, WIDTH), jnp.bfloat16), jnp.arange(8))
    assert y.dtype == jnp.bfloat16 and h_last.dtype == jnp.float32


def test_the_square_root_gradient_is_bounded():
    grad = jax.grad(lambda u: sqrt_bounded_gradient(u, 1000.0))
    assert grad(0.0) == pytest.approx(1000.0)
    assert grad(1e-12) == pytest.approx(1000.0)
    assert grad(0.25) == pytest.approx(1.0)
    assert sqrt_bounded_gradient(0.0, 1000.0) == 0.0


def test_init_puts_the_decay_on_a_ring():
    layer = RGLRU(4096, 16, key=jax.random.key(0))
    a = jnp.exp(-jax.nn.softplus(layer.decay_param))
    assert a.min() >= 0.9 - 1e-6 and a.max() <= 0.999 + 1e-6
    assert jnp.mean(a**2) == pytest.approx((0.81 + 0.998) / 2, abs=0.01)
    assert jnp.std(layer.input_gate.weight) == pytest.approx(1 / 64, rel=0.05)


def test_a_layer_backend_wins_over_the_context():
    layer = RGLRU(WIDTH, BLOCKS, backend="associative", key=jax.random.key(0))
    x = jnp.ones((8, WIDTH))
    with backends.use("sequential"):
        assert traced_backends(lambda x: layer(x, jnp.arange(8))[0], x) == {"associative"}
        plain = RGLRU(WIDTH, BLOCKS, key=jax.random.key(0))
        assert traced_backends(lambda x: plain(x, jnp.arange(8))[0], x) == {"sequential"}
