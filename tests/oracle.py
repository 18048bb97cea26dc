"""The float64 NumPy oracle every scan backend is held to (not a backend itself)."""

import jax.numpy as jnp
import numpy as np


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
