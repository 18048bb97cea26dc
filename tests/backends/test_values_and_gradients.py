"""Every registered backend against the float64 oracle: values, gradients and dtypes."""

import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, strategies as st

from ..pairwise import all_pairs
from .problems import case_id, check_against_oracle, problems, runnable_backends

# One compiled program per case and backend, so the factors that change the program are
# covered pairwise (a chunk or block boundary at 64, a ragged 257, more channels than the
# 128 lanes); the decay regime changes only values, so Hypothesis draws it per example.
# One step never reaches a backend: the front end's closed form has a test of its own.
CASES = all_pairs(
    steps=[2, 7, 64, 257],
    channels=[(), (3,), (5, 2), (130,)],
    dtype=["float32", "bfloat16", "complex64"],
    with_h0=[False, True],
    with_reset=[False, True],
    reverse=[False, True],
)


@pytest.mark.parametrize("backend", runnable_backends())
@pytest.mark.parametrize("case", CASES, ids=case_id)
@given(data=st.data())
def test_matches_oracle(backend, case, data):
    problem = data.draw(
        problems(
            case["steps"],
            case["channels"],
            case["dtype"],
            None,  # drawn
            case["with_h0"],
            case["with_reset"],
        )
    )
    check_against_oracle(problem, backend, case["reverse"])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "complex64"])
@pytest.mark.parametrize("reverse", [False, True])
@given(data=st.data())
def test_one_step_takes_the_closed_form(dtype, reverse, data):
    problem = data.draw(problems(1, (5, 2), dtype))
    check_against_oracle(problem, "auto", reverse)


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
