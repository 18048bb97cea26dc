"""Every registered backend against the float64 oracle: values, gradients and dtypes."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo import linear_scan

from .. import oracle
from ..pairwise import all_pairs
from .problems import (
    A_REGIMES,
    Problem,
    assert_scaled_close,
    problems,
    runnable_backends,
    skip_if_refused,
    tolerance,
)

CASES = all_pairs(
    steps=[1, 2, 7, 64, 65, 257],
    channels=[(), (1,), (3,), (5, 2), (130,)],
    dtype=["float32", "bfloat16", "complex64"],
    regime=list(A_REGIMES),
    with_h0=[False, True],
    with_reset=[False, True],
    reverse=[False, True],
)


def _case_id(case):
    flags = [k for k in ("with_h0", "with_reset", "reverse") if case[k]]
    channels = "x".join(map(str, case["channels"])) or "scalar"
    return "-".join([f"T{case['steps']}", channels, case["dtype"], case["regime"], *flags])


@partial(jax.jit, static_argnames=("backend", "reverse"))
def forward_and_vjp(problem: Problem, *, backend, reverse: bool):
    def scan(a, x, h0):
        return linear_scan(a, x, h0=h0, reset=problem.reset, reverse=reverse, backend=backend)

    (h, h_last), vjp = jax.vjp(scan, problem.a, problem.x, problem.h0)
    return (h, h_last), vjp((problem.dh, problem.dh_last))


def check_against_oracle(problem: Problem, backend, reverse: bool):
    skip_if_refused(backend, problem.a, problem.x)
    (h, h_last), (da, dx, dh0) = forward_and_vjp(problem, backend=backend, reverse=reverse)
    acc = jnp.promote_types(problem.x.dtype, jnp.float32)
    assert h.dtype == problem.x.dtype and h_last.dtype == acc
    assert da.dtype == problem.a.dtype and dx.dtype == problem.x.dtype
    assert dh0 is None if problem.h0 is None else dh0.dtype == acc

    a, x, dh, dh_last = map(oracle.wide, (problem.a, problem.x, problem.dh, problem.dh_last))
    h0 = None if problem.h0 is None else oracle.wide(problem.h0)
    abs_a, abs_x, abs_dh, abs_dh_last = map(np.abs, (a, x, dh, dh_last))
    abs_h0 = None if h0 is None else np.abs(h0)
    tol = tolerance(problem.x.dtype, len(a))

    expected = oracle.scan(a, x, h0, problem.reset, reverse)
    scale = oracle.scan(abs_a, abs_x, abs_h0, problem.reset, reverse)
    assert_scaled_close(h, expected[0], scale[0], tol, "h")
    assert_scaled_close(h_last, expected[1], scale[1], tol, "h_last")

    grads = oracle.scan_vjp(a, x, h0, dh, dh_last, problem.reset, reverse)
    scales = oracle.scan_vjp(abs_a, abs_x, abs_h0, abs_dh, abs_dh_last, problem.reset, reverse)
    for name, got, want, size in zip(
        ("da", "dx", "dh0"), (da, dx, dh0), grads, scales, strict=True
    ):
        if name != "dh0" or problem.h0 is not None:
            assert_scaled_close(got, want, size, 2 * tol, name)


@pytest.mark.parametrize("backend", runnable_backends())
@pytest.mark.parametrize("case", CASES, ids=_case_id)
@given(data=st.data())
def test_matches_oracle(backend, case, data):
    problem = data.draw(
        problems(
            case["steps"],
            case["channels"],
            case["dtype"],
            case["regime"],
            case["with_h0"],
            case["with_reset"],
        )
    )
    check_against_oracle(problem, backend, case["reverse"])


@pytest.mark.parametrize("backend", runnable_backends())
@pytest.mark.parametrize("regime", ["one", "near_one"])
@given(data=st.data())
def test_long_sequences_at_the_edge_of_stability(backend, regime, data):
    problem = data.draw(problems(4096, (3,), "float32", regime, with_reset=False))
    check_against_oracle(problem, backend, reverse=False)


@pytest.mark.parametrize("backend", runnable_backends())
@given(data=st.data())
def test_float64_accumulates_in_float64_under_x64(backend, data):
    with jax.enable_x64(True):
        problem = data.draw(problems(65, (3,), jnp.float64))
        check_against_oracle(problem, backend, reverse=False)
