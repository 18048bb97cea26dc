"""The sequential loop along one axis, and how loop backends batch and differentiate.

Loop backends scan along an arbitrary time axis, so that `jax.vmap` folds its batch into
leading dimensions (a `custom_vmap` rule moves the time axis by one) instead of
materialising a transpose, and differentiate with a `custom_vjp` whose backward pass is
the same backend run in the other direction.
"""

import abc
from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from .._typing import State, TimeMajor
from ._base import AbstractScanBackend, named_scope


def fori_along(length: int, reverse: bool, body: Callable, init):
    """`lax.fori_loop` whose body sees the time index, counting down when `reverse`."""

    def step(i, carry):
        return body(length - 1 - i if reverse else i, carry)

    return lax.fori_loop(0, length, step, init)


def loop_scan(a: Array, x: Array, h0: Array, *, axis: int, reverse: bool) -> tuple[Array, Array]:
    """$h_t = a_t h_{t-1} + x_t$ along `axis`, one step at a time, accumulating in `h0.dtype`."""

    def body(t, carry):
        h, ys = carry
        a_t = lax.dynamic_index_in_dim(a, t, axis, keepdims=False)
        x_t = lax.dynamic_index_in_dim(x, t, axis, keepdims=False)
        h = a_t.astype(h.dtype) * h + x_t.astype(h.dtype)
        return h, lax.dynamic_update_index_in_dim(ys, h.astype(ys.dtype), t, axis)

    h_last, ys = fori_along(a.shape[axis], reverse, body, (h0, jnp.zeros_like(x)))
    return ys, h_last


class AbstractLoopBackend(AbstractScanBackend):
    """A backend that scans along any axis; batching and gradients come from here.

    Its gradient is a `jax.custom_vjp`, so it supports reverse-mode autodiff only
    (`jax.grad`, `jax.vjp`), not forward mode (`jax.jvp`, `jax.jacfwd`). The backward pass
    reuses the forward pass's `h`, kept in the input dtype, as the official Pallas scan does.
    """

    @abc.abstractmethod
    def scan_along(
        self, a: Array, x: Array, h0: Array, *, axis: int, reverse: bool
    ) -> tuple[Array, Array]:
        """The recurrence along `axis` of `a` and `x`; `h0` has that axis removed."""

    def scan(
        self,
        a: TimeMajor,
        x: TimeMajor,
        h0: State,
        *,
        reverse: bool,
    ) -> tuple[TimeMajor, State]:
        return _differentiable_scan(self, reverse, a, x, h0)


def _batch_folding(backend: AbstractLoopBackend, axis: int, reverse: bool) -> Callable:
    """`backend.scan_along` as a function that `jax.vmap` batches without a transpose."""

    @jax.custom_batching.custom_vmap
    def scan(a, x, h0):
        return backend.scan_along(a, x, h0, axis=axis, reverse=reverse)

    @scan.def_vmap
    def _(axis_size, in_batched, a, x, h0):
        a, x, h0 = (
            arg if batched else jnp.broadcast_to(arg, (axis_size, *arg.shape))
            for arg, batched in zip((a, x, h0), in_batched, strict=True)
        )
        return _batch_folding(backend, axis + 1, reverse)(a, x, h0), (True, True)

    return scan


@partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _differentiable_scan(backend, reverse, a, x, h0):
    return _batch_folding(backend, 0, reverse)(a, x, h0)


def _forward(backend, reverse, a, x, h0):
    h, h_last = _batch_folding(backend, 0, reverse)(a, x, h0)
    return (h, h_last), (a, h, h0)


def _backward(backend, reverse, residuals, cotangents):
    # The transposed recurrence runs the other way: g_t = dh_t + a_{t+1} g_{t+1}, seeded
    # with the cotangent of h_last; then dx = g, da_t = g_t h_{t-1}, dh0 = a_0 g_0.
    # (Written for reverse=False; reverse=True mirrors every shift.)
    a, h, h0 = residuals
    dh, dh_last = cotangents
    ones = jnp.ones_like(a[:1])
    h0_step = h0[None].astype(h.dtype)
    if reverse:
        a_next = jnp.concatenate([ones, a[:-1]])
        h_prev = jnp.concatenate([h[1:], h0_step])
        a_first = a[-1]
    else:
        a_next = jnp.concatenate([a[1:], ones])
        h_prev = jnp.concatenate([h0_step, h[:-1]])
        a_first = a[0]
    with named_scope(backend):
        g, g_first = _batch_folding(backend, 0, not reverse)(a_next, dh, dh_last)
    acc = h0.dtype
    da = (g.astype(acc) * h_prev.astype(acc)).astype(a.dtype)
    return da, g, a_first.astype(acc) * g_first


_differentiable_scan.defvjp(_forward, _backward)
