"""The `chunked` backend: a two-level scan over fixed-size chunks."""

import equinox as eqx
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array

from ..errors import InputError
from ._loop import AbstractLoopBackend, fori_along, loop_scan
from ._registry import register
from ._two_level import carry_along, two_level_scan


@register
class Chunked(AbstractLoopBackend):
    """Splits time into chunks of `chunk_size` steps and scans them all at once.

    Three passes, each a short loop over wide vectors:

    1. every chunk, in parallel, reduces to its decay (the product of its `a`) and its
       final state from a zero start;
    2. a sequential scan over the chunk summaries gives each chunk its true initial state;
    3. every chunk, in parallel, rescans from that state and writes `h`: the correction is
       fused into the one pass that writes the output.

    (The two-level plan of `hawkzoo.backends._two_level`, with loops as its passes.)

    The loops run `2 * chunk_size + T / chunk_size` steps instead of T, so this is the
    portable fast path on accelerators and for long sequences with few channels, at the
    cost of reading `a` and `x` twice. A sequence whose length is not a multiple of
    `chunk_size` is padded with `a = 1, x = 0`, which leaves the state unchanged.
    """

    name = "chunked"
    chunk_size: int = eqx.field(static=True, default=64)

    def __check_init__(self):
        if not (isinstance(self.chunk_size, int) and self.chunk_size >= 1):
            raise InputError(f"chunk_size must be a positive int, got {self.chunk_size!r}")

    def scan_along(
        self, a: Array, x: Array, h0: Array, *, axis: int, reverse: bool
    ) -> tuple[Array, Array]:
        length, size = a.shape[axis], self.chunk_size
        count = -(-length // size)
        pad = count * size - length
        if pad:
            widths = [(0, 0)] * a.ndim
            widths[axis] = (pad, 0) if reverse else (0, pad)
            a = jnp.pad(a, widths, constant_values=1)
            x = jnp.pad(x, widths)
        chunked_shape = (*a.shape[:axis], count, size, *a.shape[axis + 1 :])
        a, x = a.reshape(chunked_shape), x.reshape(chunked_shape)
        within = axis + 1

        h, h_last = two_level_scan(
            lambda: _chunk_summaries(a, x, h0.dtype, within, reverse),
            carry_along(axis, reverse),
            lambda starts: loop_scan(a, x, starts, axis=within, reverse=reverse)[0],
            h0,
        )

        h = h.reshape(*h.shape[:axis], count * size, *h.shape[within + 1 :])
        start = pad if reverse else 0
        return lax.slice_in_dim(h, start, start + length, axis=axis), h_last


def _chunk_summaries(a: Array, x: Array, acc, axis: int, reverse: bool) -> tuple[Array, Array]:
    """Each chunk's product of `a` and its final state from zero, in one pass."""

    def body(t, carry):
        decay, h = carry
        a_t = lax.dynamic_index_in_dim(a, t, axis, keepdims=False).astype(acc)
        x_t = lax.dynamic_index_in_dim(x, t, axis, keepdims=False).astype(acc)
        return a_t * decay, a_t * h + x_t

    shape = a.shape[:axis] + a.shape[axis + 1 :]
    init = (jnp.ones(shape, acc), jnp.zeros(shape, acc))
    return fori_along(a.shape[axis], reverse, body, init)
