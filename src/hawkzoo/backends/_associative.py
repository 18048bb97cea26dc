"""The `associative` backend: a parallel prefix scan."""

from jax import lax

from .._typing import State, TimeMajor
from ._base import AbstractScanBackend
from ._registry import register


def _compose(earlier, later):
    a_i, h_i = earlier
    a_j, h_j = later
    return a_j * a_i, a_j * h_i + h_j


@register
class Associative(AbstractScanBackend):
    """`jax.lax.associative_scan` over the pairs $(a_t, x_t)$, in the accumulation dtype.

    $O(\\log T)$ depth and $O(T)$ work, but each of its levels moves the whole array
    through memory, so it is the slowest backend on CPU and rarely the fastest elsewhere;
    it is here as an independent, fully parallel implementation that JAX differentiates
    (forward and reverse mode) and batches natively.
    """

    name = "associative"

    def scan(
        self,
        a: TimeMajor,
        x: TimeMajor,
        h0: State,
        *,
        reverse: bool,
    ) -> tuple[TimeMajor, State]:
        dtype, acc = x.dtype, h0.dtype
        a, x = a.astype(acc), x.astype(acc)
        first = -1 if reverse else 0
        x = x.at[first].add(a[first] * h0)
        _, h = lax.associative_scan(_compose, (a, x), reverse=reverse)
        return h.astype(dtype), h[-1 - first]
