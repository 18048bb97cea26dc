"""The float64 NumPy oracle every scan backend is held to (not a backend itself), the
problems it is asked, and the tolerance a backend must meet."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

# How the decays are drawn: the edges of the stable regime matter most.
A_REGIMES = ("uniform", "zero", "one", "near_one", "mixed")


def wide(array) -> np.ndarray:
    """An array as float64 (complex128) NumPy, after any rounding to its own dtype."""
    array = np.asarray(jnp.asarray(array).astype(jnp.promote_types(array.dtype, jnp.float32)))
    return array.astype(np.complex128 if np.iscomplexobj(array) else np.float64)


def _flip(array):
    return None if array is None else array[::-1]


def scan(a, x, h0=None, reset=None, reverse=False):
    """`(h, h_last)` of $h_t = a_t h_{t-1} + x_t$, one step at a time in float64."""
    if reverse:
        h, h_last = scan(_flip(a), _flip(x), h0, _flip(reset))
        return h[::-1], h_last
    a, x = np.array(a), np.array(x)
    h = np.zeros(x.shape[1:], x.dtype) if h0 is None else np.array(h0, dtype=x.dtype)
    if reset is not None:
        a[np.asarray(reset)] = 0
    out = np.empty_like(x)
    for t in range(len(x)):
        h = a[t] * h + x[t]
        out[t] = h
    return out, h


def scan_vjp(a, x, h0, dh, dh_last, reset=None, reverse=False):
    """The transpose of `scan` at `(a, x, h0)` applied to `(dh, dh_last)`: `(da, dx, dh0)`.

    The plain transpose (no conjugates), JAX's convention for complex inputs:
    $g_t = dh_t + a_{t+1} g_{t+1}$, $dx = g$, $da_t = g_t h_{t-1}$, $dh0 = a_0 g_0$.
    """
    if reverse:
        da, dx, dh0 = scan_vjp(_flip(a), _flip(x), h0, _flip(dh), dh_last, _flip(reset))
        return da[::-1], dx[::-1], dh0
    a = np.array(a)
    h0 = np.zeros(x.shape[1:], x.dtype) if h0 is None else np.asarray(h0, dtype=x.dtype)
    kept = np.ones(len(a), bool) if reset is None else ~np.asarray(reset)
    a[~kept] = 0
    h, _ = scan(a, x, h0)
    h_prev = np.concatenate([h0[None], h[:-1]])
    g = np.empty_like(np.asarray(dh, dtype=np.result_type(dh, a)))
    carry = np.asarray(dh_last, dtype=g.dtype)
    for t in reversed(range(len(a))):
        g[t] = dh[t] + carry
        carry = a[t] * g[t]
    da = g * h_prev * kept.reshape(-1, *(1,) * (a.ndim - 1))
    return da, g, carry


class Problem(eqx.Module):
    """A time-major scan problem `(steps, *channels)` and the cotangents of its outputs."""

    a: jax.Array
    x: jax.Array
    h0: jax.Array | None
    reset: jax.Array | None
    dh: jax.Array
    dh_last: jax.Array


def problem(
    seed: int,
    steps: int,
    channels: tuple,  # of ints: an element hint would have beartype draw from `random`
    dtype,
    *,
    regime: str = "mixed",
    scale: float = 1.0,
    reset_density: float = 0.05,
    with_h0: bool = True,
    with_reset: bool = True,
) -> Problem:
    """A `Problem` drawn from `seed`: decays in `regime` (one of `A_REGIMES`), inputs and
    `h0` of size `scale`, and resets at a fraction `reset_density` of the steps."""
    keys = jr.split(jr.key(seed), 6)
    shape = (steps, *channels)
    accumulation = jnp.promote_types(dtype, jnp.float32)
    return Problem(
        a=_decays(keys[0], shape, regime, dtype),
        x=_values(keys[1], shape, dtype, scale),
        h0=_values(keys[2], channels, dtype, scale).astype(accumulation) if with_h0 else None,
        reset=jr.bernoulli(keys[3], reset_density, (steps,)) if with_reset else None,
        dh=_values(keys[4], shape, dtype),
        dh_last=_values(keys[5], channels, dtype).astype(accumulation),
    )


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


def tolerance(dtype, steps: int) -> float:
    """Relative to the scan of absolute values: output rounding plus accumulation error."""
    output_eps = float(jnp.finfo(dtype).eps)
    accumulate_eps = float(jnp.finfo(jnp.promote_types(dtype, jnp.float32)).eps)
    return 4 * output_eps + 4 * steps * accumulate_eps


def mismatch(actual, expected, scale, tol: float) -> str | None:
    """Where `actual` is furthest past `tol` × `scale` from `expected`, or None if nowhere."""
    actual, expected = wide(actual), np.asarray(expected)
    if actual.shape != expected.shape:
        return f"shape {actual.shape}, expected {expected.shape}"
    error = np.abs(actual - expected)
    bound = tol * np.abs(scale) + 1e-30
    if np.all(error <= bound):  # also false where the error is NaN
        return None
    ratio = np.where(np.isnan(error), np.inf, error / bound)
    worst = np.unravel_index(np.argmax(ratio), ratio.shape)
    return (
        f"error {error[worst]:.3g} exceeds {bound[worst]:.3g} at {tuple(map(int, worst))} "
        f"(got {actual[worst]:.6g}, expected {expected[worst]:.6g})"
    )


def mismatches(problem: Problem, outputs, reverse: bool) -> dict[str, str]:
    """Each of `h`, `h_last`, `da`, `dx` and `dh0` in `outputs` (a backend's
    `((h, h_last), (da, dx, dh0))` on `problem`) that the oracle disagrees with, and where."""
    (h, h_last), (da, dx, dh0) = outputs
    a, x, dh, dh_last = map(wide, (problem.a, problem.x, problem.dh, problem.dh_last))
    h0 = None if problem.h0 is None else wide(problem.h0)
    abs_a, abs_x, abs_dh, abs_dh_last = map(np.abs, (a, x, dh, dh_last))
    abs_h0 = None if h0 is None else np.abs(h0)
    tol = tolerance(problem.x.dtype, len(a))
    expected = scan(a, x, h0, problem.reset, reverse)
    scale = scan(abs_a, abs_x, abs_h0, problem.reset, reverse)
    grads = scan_vjp(a, x, h0, dh, dh_last, problem.reset, reverse)
    scales = scan_vjp(abs_a, abs_x, abs_h0, abs_dh, abs_dh_last, problem.reset, reverse)
    found = {
        "h": mismatch(h, expected[0], scale[0], tol),
        "h_last": mismatch(h_last, expected[1], scale[1], tol),
        "da": mismatch(da, grads[0], scales[0], 2 * tol),
        "dx": mismatch(dx, grads[1], scales[1], 2 * tol),
        "dh0": None if h0 is None else mismatch(dh0, grads[2], scales[2], 2 * tol),
    }
    return {name: message for name, message in found.items() if message is not None}
