"""Scan problems for the tests: shapes fixed by the test case, values drawn by Hypothesis."""

import os

import jax
import jax.numpy as jnp
import pytest
from hypothesis import strategies as st

from hawkzoo import backends, linear_scan
from hawkzoo.backends import _oracle as oracle
from hawkzoo.backends._verify import forward_and_vjp

# Also run the slow cases of Pallas's GPU interpreter (CI does, in a step of its own).
SLOW_INTERPRETERS = os.environ.get("HAWKZOO_TEST_SLOW_INTERPRETERS", "") not in ("", "0")


def runnable(name: str) -> str | backends.AbstractScanBackend:
    """The backend the tests run for a registered name: kernels for other hardware run in
    Pallas's interpreter here."""
    if name == "pallas_tpu" and jax.default_backend() != "tpu":
        return backends.PallasTPU(interpret=True, block_steps=8)
    if name == "pallas_gpu" and not is_native(name):
        return backends.PallasGPU(interpret=True, block_steps=8)
    return name


def is_native(name: str) -> bool:
    """Whether a registered backend runs natively here (rather than in an interpreter)."""
    probe = jnp.ones((2, 1))
    return backends.get(name).unsupported_reason(probe, probe) is None


def runnable_backends(*, slow_in_gpu_interpreter: bool = False) -> list:
    """Every registered backend, as `pytest.param`s named by registry name.

    Pallas's GPU interpreter takes milliseconds a step: a test marked slow there leaves it
    out unless `SLOW_INTERPRETERS` is set (CI sets it; a GPU runs the kernel natively).
    """
    names = backends.registered()
    if slow_in_gpu_interpreter and not SLOW_INTERPRETERS and not is_native("pallas_gpu"):
        names = [name for name in names if name != "pallas_gpu"]
    return [pytest.param(runnable(name), id=name) for name in names]


def skip_if_refused(backend, a, x) -> None:
    """Skip a case the backend declares unsupported (refusals are tested on their own), or
    one too long for Pallas's GPU interpreter."""
    backend = backends.get(backend)
    reason = backend.unsupported_reason(a, x)
    if reason is not None:
        pytest.skip(reason)
    longest = 257 if SLOW_INTERPRETERS else 7
    interpreted_gpu = isinstance(backend, backends.PallasGPU) and backend.interpret
    if interpreted_gpu and a.shape[0] > longest:
        pytest.skip(f"over {longest} steps in the GPU interpreter")


def case_id(case: dict) -> str:
    """A test id for a case of a pairwise list: its mesh if any, length, channels, dtype
    and the flags that are set."""
    flags = [k for k in ("with_h0", "with_reset", "reverse") if case[k]]
    channels = "x".join(map(str, case["channels"])) or "scalar"
    mesh = [case["mesh"]] if "mesh" in case else []
    return "-".join([*mesh, f"T{case['steps']}", channels, case["dtype"], *flags])


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "complex64": jnp.complex64}
tolerance = oracle.tolerance


@st.composite
def problems(draw, steps, channels, dtype, regime=None, with_h0=True, with_reset=True):
    """A `Problem` of shape `(steps, *channels)`: values, resets and (if None) regime drawn."""
    return oracle.problem(
        draw(st.integers(0, 2**31 - 1)),
        steps,
        channels,
        DTYPES[dtype] if isinstance(dtype, str) else dtype,
        regime=regime or draw(st.sampled_from(oracle.A_REGIMES)),
        scale=draw(st.sampled_from([1.0, 1e-3, 1e3])),
        reset_density=draw(st.sampled_from([0.0, 0.05, 0.5, 1.0])),
        with_h0=with_h0,
        with_reset=with_reset,
    )


def assert_scaled_close(actual, expected, scale, tol, what):
    found = oracle.mismatch(actual, expected, scale, tol)
    assert found is None, f"{what}: {found}"


def check_against_oracle(problem: oracle.Problem, backend, reverse: bool, scan=linear_scan):
    """`scan`'s values and gradients on `problem` against the float64 oracle's."""
    skip_if_refused(backend, problem.a, problem.x)
    (h, h_last), (da, dx, dh0) = forward_and_vjp(
        problem, backend=backend, reverse=reverse, scan=scan
    )
    acc = jnp.promote_types(problem.x.dtype, jnp.float32)
    assert h.dtype == problem.x.dtype and h_last.dtype == acc
    assert da.dtype == problem.a.dtype and dx.dtype == problem.x.dtype
    assert dh0 is None if problem.h0 is None else dh0.dtype == acc

    found = oracle.mismatches(problem, ((h, h_last), (da, dx, dh0)), reverse)
    assert not found, found
