"""The `auto` backend: picks a concrete backend per platform and call."""

import warnings

from jaxtyping import Array

from .._typing import State, TimeMajor
from . import _platform
from ._base import AbstractScanBackend
from ._registry import get, register


class ScanBackendFallbackWarning(UserWarning):
    """`auto` preferred a backend that cannot run a call, and used another."""


_warned: set[tuple[str, str]] = set()


@register
class Auto(AbstractScanBackend):
    """Chooses, at trace time, the backend expected to be fastest for the call.

    - CPU: `sequential`, whose single pass is at the memory floor there.
    - TPU: `pallas_tpu`, the kernel that keeps the state in VMEM; then `chunked`.
    - GPU: `pallas_gpu`, the Mosaic GPU kernel, on Hopper and newer; then `chunked`,
      whose short loops over wide vectors suit parallel hardware.

    A preferred backend that cannot run the call is skipped with one warning per process
    for each (backend, reason); `sequential` runs everything and ends every list.
    """

    name = "auto"

    def preferences(self, a: Array, x: Array) -> tuple[AbstractScanBackend, ...]:
        """The backends `auto` tries for this call, in order."""
        del a, x
        platform = _platform.target_platform()
        if platform == "cpu":
            return (get("sequential"),)
        if platform == "tpu":
            return (get("pallas_tpu"), get("chunked"), get("sequential"))
        return (get("pallas_gpu"), get("chunked"), get("sequential"))

    def select(self, a: TimeMajor, x: TimeMajor) -> AbstractScanBackend:
        *preferred, last = self.preferences(a, x)
        for backend in preferred:
            reason = backend.unsupported_reason(a, x)
            if reason is None:
                return backend
            if (backend.name, reason) not in _warned:
                _warned.add((backend.name, reason))
                warnings.warn(
                    f"auto: scan backend {backend.name!r} cannot run this call ({reason}); "
                    "using the next one",
                    ScanBackendFallbackWarning,
                    stacklevel=4,
                )
        return last.select(a, x)

    def scan(
        self,
        a: TimeMajor,
        x: TimeMajor,
        h0: State,
        *,
        reverse: bool,
    ) -> tuple[TimeMajor, State]:
        return self.select(a, x).scan(a, x, h0, reverse=reverse)
