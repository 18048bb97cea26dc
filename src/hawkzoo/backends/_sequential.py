"""The `sequential` backend: one step at a time."""

from jaxtyping import Array

from ._loop import AbstractLoopBackend, loop_scan
from ._registry import register


@register
class Sequential(AbstractLoopBackend):
    """One pass over time in a `lax.fori_loop`: reads `a` and `x` once and writes `h` once.

    The fastest backend on CPU wherever batch × channels fills a step. Under `jax.vmap`
    the batch stays where it is and each step reads a strided slice, so batch-major inputs
    cost no transpose. Its loop runs T steps, so at small batch × channels the per-step
    overhead dominates; `chunked` shortens the loop.
    """

    name = "sequential"

    def scan_along(
        self, a: Array, x: Array, h0: Array, *, axis: int, reverse: bool
    ) -> tuple[Array, Array]:
        return loop_scan(a, x, h0, axis=axis, reverse=reverse)
