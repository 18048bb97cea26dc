"""The interface every scan backend implements."""

import abc
import contextlib
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import Sequence, State


class UnsupportedScanError(ValueError):
    """An explicitly chosen scan backend cannot run the call it was given."""


def accumulation_dtype(dtype: jnp.dtype) -> jnp.dtype:
    """The dtype a scan accumulates in: float32 (complex64) or wider."""
    return jnp.promote_types(dtype, jnp.float32)


class AbstractScanBackend(eqx.Module):
    """One way of computing $h_t = a_t h_{t-1} + x_t$.

    A backend sees one normalised problem: unbatched time-major `a` and `x` of one dtype
    with at least two steps, resets already folded into `a`, and an `h0` in the
    accumulation dtype; [`linear_scan`][hawkzoo.backends.linear_scan] does the rest.
    Subclasses set `name` (the registry key), implement `scan`, and may refuse a call in
    `unsupported_reason`.

    Sequence sharding needs nothing more: by linearity, each shard scans from a zero state
    and is corrected by a second scan of `(a, 0)` from its true initial state, which any
    backend computes with `scan`; `cumulative_decay` gives each position's running product
    of `a` for the same purpose.
    """

    name: ClassVar[str]

    def select(self, a: Sequence, x: Sequence) -> "AbstractScanBackend":
        """The backend that will run this call: `self`, or an error saying why it cannot."""
        reason = self.unsupported_reason(a, x)
        if reason is not None:
            raise UnsupportedScanError(f"scan backend {self.name!r} cannot run this call: {reason}")
        return self

    def unsupported_reason(self, a: Sequence, x: Sequence) -> str | None:
        """Why this backend cannot run this call on the current platform, or None if it can."""
        del a, x
        return None

    @abc.abstractmethod
    def scan(
        self,
        a: Sequence,
        x: Sequence,
        h0: State,
        *,
        reverse: bool,
    ) -> tuple[Sequence, State]:
        """Returns `(h, h_last)`: `h` in `x.dtype`, `h_last` in `h0.dtype`.

        With `reverse=True` the recurrence runs from the last step to the first,
        $h_t = a_t h_{t+1} + x_t$, and `h_last` is the state after step 0.
        """

    def cumulative_decay(self, a: Sequence, *, reverse: bool = False) -> Sequence:
        """The running product of `a` along time, in the accumulation dtype."""
        acc = accumulation_dtype(a.dtype)
        decay = a.astype(acc)
        ones = jnp.ones(a.shape[1:], acc)
        prod, _ = self.scan(decay, jnp.zeros_like(decay), ones, reverse=reverse)
        return prod


def named_scope(backend: AbstractScanBackend) -> contextlib.AbstractContextManager:
    """The scope every backend body runs under, visible in lowered text and profiles."""
    return jax.named_scope(f"hawkzoo.backends.{backend.name}")
