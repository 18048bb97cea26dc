"""Every registered backend against the float64 oracle: values, gradients and dtypes."""

import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, strategies as st

from ..pairwise import all_pairs
from .problems import A_REGIMES, check_against_oracle, problems, runnable_backends

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
