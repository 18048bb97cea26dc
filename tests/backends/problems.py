"""Scan problems for the tests: shapes fixed by the test case, values drawn by Hypothesis."""

import os
from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from hypothesis import strategies as st

from hawkzoo import backends, linear_scan

from .. import oracle

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


# How the decays are drawn: the edges of the stable regime matter most.
A_REGIMES = ("uniform", "zero", "one", "near_one", "mixed")


class Problem(eqx.Module):
    a: jax.Array
    x: jax.Array
    h0: jax.Array | None
    reset: jax.Array | None
    dh: jax.Array
    dh_last: jax.Array


def _decays(key, shape, regime, dtype):
    k1, k2, k3 = jr.split(key, 3)
    magnitude = {
        "uniform": lambda: jr.uniform(k1, shape),
        "zero": lambda: jnp.zeros(shape),
        "one": lambda: jnp.ones(shape),
        "near_one": lambda: 1 - 10 ** jr.uniform(k1, shape, minval=-6, maxval=-2),
        "mixed": lambda: jr.choice(k1, jnp.array([0.0, 0.5, 0.99, 1.0]), shape),
    }[regime]()
    if jnp.issubdtype(dtype, jnp.complexfloating):
        phase = jr.uniform(k2, shape, minval=-jnp.pi, maxval=jnp.pi)
        return (magnitude * jnp.exp(1j * phase)).astype(dtype)
    sign = jnp.where(jr.bernoulli(k3, 0.1, shape), -1.0, 1.0) if regime == "uniform" else 1.0
    return (sign * magnitude).astype(dtype)


def _values(key, shape, dtype, scale=1.0):
    if jnp.issubdtype(dtype, jnp.complexfloating):
        real, imag = jr.normal(key, (2, *shape))
        return (scale * (real + 1j * imag)).astype(dtype)
    return (scale * jr.normal(key, shape)).astype(dtype)


@st.composite
def problems(draw, steps, channels, dtype, regime=None, with_h0=True, with_reset=True):
    """A `Problem` of shape `(steps, *channels)`: values, resets and (if None) regime drawn."""
    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    seed = draw(st.integers(0, 2**31 - 1))
    regime = regime or draw(st.sampled_from(A_REGIMES))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3]))
    density = draw(st.sampled_from([0.0, 0.05, 0.5, 1.0]))
    keys = jr.split(jr.key(seed), 6)
    shape = (steps, *channels)
    return Problem(
        a=_decays(keys[0], shape, regime, dtype),
        x=_values(keys[1], shape, dtype, scale),
        h0=_values(keys[2], channels, dtype, scale).astype(jnp.promote_types(dtype, jnp.float32))
        if with_h0
        else None,
        reset=jr.bernoulli(keys[3], density, (steps,)) if with_reset else None,
        dh=_values(keys[4], shape, dtype),
        dh_last=_values(keys[5], channels, dtype).astype(jnp.promote_types(dtype, jnp.float32)),
    )


def tolerance(dtype, steps) -> float:
    """Relative to the scan of absolute values: output rounding plus accumulation error."""
    output_eps = float(jnp.finfo(dtype).eps)
    accumulate_eps = float(jnp.finfo(jnp.promote_types(dtype, jnp.float32)).eps)
    return 4 * output_eps + 4 * steps * accumulate_eps


def assert_scaled_close(actual, expected, scale, tol, what):
    actual, expected = oracle.wide(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    error = np.abs(actual - expected)
    bound = tol * np.abs(scale) + 1e-30
    worst = np.unravel_index(np.argmax(error / bound), error.shape) if error.size else ()
    assert np.all(error <= bound), (
        f"{what}: error {error[worst]:.3g} exceeds {bound[worst]:.3g} at {worst} "
        f"(got {actual[worst]}, expected {expected[worst]})"
    )


@partial(jax.jit, static_argnames=("backend", "reverse", "scan"))
def forward_and_vjp(problem: Problem, *, backend, reverse: bool, scan=linear_scan):
    def run(a, x, h0):
        return scan(a, x, h0=h0, reset=problem.reset, reverse=reverse, backend=backend)

    (h, h_last), vjp = jax.vjp(run, problem.a, problem.x, problem.h0)
    return (h, h_last), vjp((problem.dh, problem.dh_last))


def check_against_oracle(problem: Problem, backend, reverse: bool, scan=linear_scan):
    """`scan`'s values and gradients on `problem` against the float64 oracle's."""
    skip_if_refused(backend, problem.a, problem.x)
    (h, h_last), (da, dx, dh0) = forward_and_vjp(
        problem, backend=backend, reverse=reverse, scan=scan
    )
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
