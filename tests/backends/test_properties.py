"""Algebraic properties of the scan, for every registered backend."""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo import linear_scan
from hawkzoo.backends import _oracle as oracle

from .problems import assert_scaled_close, problems, runnable_backends, tolerance

BACKENDS = runnable_backends()
SLOW_IN_GPU_INTERPRETER = runnable_backends(slow_in_gpu_interpreter=True)
STEPS, CHANNELS = 65, (3,)
TOL = tolerance(jnp.float32, STEPS)


def _scale(problem):
    """The scan of absolute values, which bounds the rounding error of any evaluation order."""
    return oracle.scan(
        np.abs(oracle.wide(problem.a)),
        np.abs(oracle.wide(problem.x)),
        np.abs(oracle.wide(problem.h0)),
    )


@partial(jax.jit, static_argnames=("backend", "reverse"))
def _scan(a, x, h0, reset=None, *, backend, reverse=False):
    return linear_scan(a, x, h0=h0, reset=reset, backend=backend, reverse=reverse)


@pytest.mark.parametrize("backend", SLOW_IN_GPU_INTERPRETER)
@given(
    problem=problems(STEPS, CHANNELS, "float32", with_reset=False),
    split=st.sampled_from([1, 32, 64]),
)
def test_splitting_and_carrying_the_state_equals_one_scan(backend, problem, split):
    a, x, h0 = problem.a, problem.x, problem.h0
    whole, whole_last = _scan(a, x, h0, backend=backend)
    head, carry = _scan(a[:split], x[:split], h0, backend=backend)
    tail, tail_last = _scan(a[split:], x[split:], carry, backend=backend)
    scale, scale_last = _scale(problem)
    assert_scaled_close(jnp.concatenate([head, tail]), oracle.wide(whole), scale, 2 * TOL, "h")
    assert_scaled_close(tail_last, oracle.wide(whole_last), scale_last, 2 * TOL, "h_last")


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    problem=problems(STEPS, CHANNELS, "float32", with_reset=False),
    start=st.sampled_from([1, 40, 64]),
)
def test_a_reset_equals_a_fresh_scan(backend, problem, start):
    a, x, h0 = problem.a, problem.x, problem.h0
    reset = jnp.arange(STEPS) == start
    h, _ = _scan(a, x, h0, reset, backend=backend)
    fresh, _ = _scan(a[start:], x[start:], jnp.zeros_like(h0), backend=backend)
    scale, _ = _scale(problem)
    assert_scaled_close(h[start:], oracle.wide(fresh), scale[start:], 2 * TOL, "h after reset")


@pytest.mark.parametrize("backend", BACKENDS)
@given(
    first=problems(STEPS, CHANNELS, "float32", with_reset=False),
    second=problems(STEPS, CHANNELS, "float32", with_reset=False),
    weights=st.tuples(st.floats(-2, 2), st.floats(-2, 2)),
)
def test_linear_in_inputs_and_initial_state(backend, first, second, weights):
    alpha, beta = weights
    a = first.a
    combined, combined_last = _scan(
        a, alpha * first.x + beta * second.x, alpha * first.h0 + beta * second.h0, backend=backend
    )
    h1, last1 = _scan(a, first.x, first.h0, backend=backend)
    h2, last2 = _scan(a, second.x, second.h0, backend=backend)
    scale1, scale1_last = _scale(first)
    scale2, scale2_last = _scale(eqx.tree_at(lambda p: p.a, second, a))
    scale = abs(alpha) * scale1 + abs(beta) * scale2
    scale_last = abs(alpha) * scale1_last + abs(beta) * scale2_last
    expected = alpha * oracle.wide(h1) + beta * oracle.wide(h2)
    expected_last = alpha * oracle.wide(last1) + beta * oracle.wide(last2)
    assert_scaled_close(combined, expected, scale, 4 * TOL, "h")
    assert_scaled_close(combined_last, expected_last, scale_last, 4 * TOL, "h_last")


@pytest.mark.parametrize("backend", BACKENDS)
@given(problem=problems(STEPS, CHANNELS, "float32"))
def test_reverse_equals_scanning_the_flipped_sequence(backend, problem):
    a, x, h0, reset = problem.a, problem.x, problem.h0, problem.reset
    h, h_last = _scan(a, x, h0, reset, backend=backend, reverse=True)
    flipped, flipped_last = _scan(a[::-1], x[::-1], h0, reset[::-1], backend=backend)
    np.testing.assert_array_equal(np.asarray(h), np.asarray(flipped[::-1]))
    np.testing.assert_array_equal(np.asarray(h_last), np.asarray(flipped_last))


@pytest.mark.parametrize("backend", SLOW_IN_GPU_INTERPRETER)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@given(data=st.data())
def test_vmap_equals_a_loop_over_rows(backend, dtype, data):
    rows = [data.draw(problems(STEPS, CHANNELS, dtype)) for _ in range(3)]
    a, x, h0, reset = (jnp.stack([getattr(r, f) for r in rows]) for f in ("a", "x", "h0", "reset"))

    @jax.jit
    def batched(a, x, h0, reset):
        scan = partial(linear_scan, backend=backend)
        per_row = jax.vmap(lambda a, x, h0, reset: scan(a, x, h0=h0, reset=reset))(a, x, h0, reset)
        shared_h0 = jax.vmap(lambda a, x: scan(a, x, h0=h0[0]))(a, x)
        return per_row, shared_h0

    (h, h_last), (h_shared, _) = batched(a, x, h0, reset)
    for i in range(3):
        row, row_last = _scan(a[i], x[i], h0[i], reset[i], backend=backend)
        np.testing.assert_array_equal(np.asarray(h[i]), np.asarray(row))
        np.testing.assert_array_equal(np.asarray(h_last[i]), np.asarray(row_last))
        np.testing.assert_array_equal(
            np.asarray(h_shared[i]), np.asarray(_scan(a[i], x[i], h0[0], backend=backend)[0])
        )


@pytest.mark.parametrize(
    "backend",  # associative is JAX's own autodiff and batching, and 10 s to compile: slow
    [
        pytest.param(*p.values, marks=[pytest.mark.slow], id=p.id) if p.id == "associative" else p
        for p in SLOW_IN_GPU_INTERPRETER
    ],
)
def test_nested_vmap_and_grad_of_vmap_equal_loops(backend):
    key = jax.random.key(0)
    a = jax.random.uniform(key, (2, 3, 16, 4))
    x = jax.random.normal(jax.random.fold_in(key, 1), (2, 3, 16, 4))

    def loss(a, x):
        h, h_last = linear_scan(a, x, backend=backend)
        return jnp.sum(h**2) + jnp.sum(h_last)

    nested = jax.jit(jax.vmap(jax.vmap(jax.value_and_grad(loss, argnums=(0, 1)))))(a, x)
    for i in range(2):
        for j in range(3):
            single = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(a[i, j], x[i, j])
            for got, want in zip(jax.tree.leaves(nested), jax.tree.leaves(single), strict=True):
                np.testing.assert_allclose(got[i, j], want, rtol=1e-6, atol=1e-6)
    grad_of_vmap = jax.jit(
        jax.grad(lambda a, x: jnp.sum(jax.vmap(jax.vmap(loss))(a, x)), argnums=(0, 1))
    )(a, x)
    for got, want in zip(grad_of_vmap, nested[1], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@given(problem=problems(STEPS, CHANNELS, "float32"))
def test_jit_equals_eager(backend, problem):
    a, x, h0, reset = problem.a, problem.x, problem.h0, problem.reset
    eager = linear_scan(a, x, h0=h0, reset=reset, backend=backend)
    jitted = _scan(a, x, h0, reset, backend=backend)
    # Eager runs op by op, jit fuses: the same arithmetic up to a few rounding steps.
    scale, scale_last = _scale(problem)
    assert_scaled_close(eager[0], oracle.wide(jitted[0]), scale, 1e-6, "h")
    assert_scaled_close(eager[1], oracle.wide(jitted[1]), scale_last, 1e-6, "h_last")
