"""The two-level plan: summarise chunks of time, carry the state across them, rescan.

A chunk of the recurrence is the affine map $h \\mapsto A h + b$ from the state before it
to the state after it, with $A$ the product of its `a` and $b$ its final state from zero.
Given every chunk's $(A, b)$, a short scan over the chunks gives each chunk its true
initial state, and a rescan of every chunk from that state writes the output. The
`chunked` and `pallas_gpu` backends carry across chunks with a loop, the sequence-parallel
scan across devices with collectives.
"""

from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from ._loop import loop_scan

Summaries = tuple[Array, Array]
"""Every chunk's `(A, b)`: its product of `a`, and its final state from a zero start."""


def two_level_scan(
    summarize: Callable[[], Summaries],
    carry: Callable[[Array, Array, Array], tuple[Array, Array]],
    rescan: Callable[[Array], Array],
    h0: Array,
) -> tuple[Array, Array]:
    """`(h, h_last)` by the plan: `carry(A, b, h0)` gives each chunk's initial state and
    the final state; `rescan(starts)` the output from them."""
    decay, local_last = summarize()
    starts, h_last = carry(decay, local_last, h0)
    return rescan(starts), h_last


def carry_along(axis: int, reverse: bool) -> Callable[[Array, Array, Array], tuple[Array, Array]]:
    """The carry across chunks laid out along `axis`: a sequential loop over them."""

    def carry(decay: Array, local_last: Array, h0: Array) -> tuple[Array, Array]:
        ends, h_last = loop_scan(decay, local_last, h0, axis=axis, reverse=reverse)
        return shift_in(ends, h0, axis, reverse), h_last

    return carry


def shift_in(ends: Array, h0: Array, axis: int, reverse: bool) -> Array:
    """Each chunk's initial state: the previous chunk's final state, `h0` for the first."""
    first = jnp.expand_dims(h0, axis)
    if reverse:
        return jnp.concatenate([lax.slice_in_dim(ends, 1, None, axis=axis), first], axis)
    return jnp.concatenate([first, lax.slice_in_dim(ends, 0, -1, axis=axis)], axis)
