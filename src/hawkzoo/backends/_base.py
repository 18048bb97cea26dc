"""The interface every scan backend implements."""

import abc
import contextlib
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .._typing import State, TimeMajor


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
    `unsupported_reason`. A kernel written for one platform sets `kernel_for` to it
    (`"gpu"`, `"tpu"`): `auto` prefers it there once it is verified natively.

    Sequence sharding needs nothing more: each shard summarises its slice with `scan`
    from a zero state, and rescans from its true initial state once the summaries are
    combined ([`sequence_parallel_scan`][hawkzoo.backends.sequence_parallel_scan]).
    """

    name: ClassVar[str]
    kernel_for: ClassVar[str | None] = None

    def select(self, a: TimeMajor, x: TimeMajor) -> "AbstractScanBackend":
        """The backend that will run this call: `self`, or an error saying why it cannot."""
        reason = self.unsupported_reason(a, x)
        if reason is not None:
            raise UnsupportedScanError(f"scan backend {self.name!r} cannot run this call: {reason}")
        return self

    def unsupported_reason(self, a: TimeMajor, x: TimeMajor) -> str | None:
        """Why this backend cannot run this call on the current platform, or None if it can."""
        del a, x
        return None

    @abc.abstractmethod
    def scan(
        self,
        a: TimeMajor,
        x: TimeMajor,
        h0: State,
        *,
        reverse: bool,
    ) -> tuple[TimeMajor, State]:
        """Returns `(h, h_last)`: `h` in `x.dtype`, `h_last` in `h0.dtype`.

        With `reverse=True` the recurrence runs from the last step to the first,
        $h_t = a_t h_{t+1} + x_t$, and `h_last` is the state after step 0.
        """


def named_scope(backend: AbstractScanBackend) -> contextlib.AbstractContextManager:
    """The scope every backend body runs under, visible in lowered text and profiles."""
    return jax.named_scope(f"hawkzoo.backends.{backend.name}")
