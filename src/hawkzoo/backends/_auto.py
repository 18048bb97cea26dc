"""The `auto` backend: picks a concrete backend per platform and call."""

import warnings

from jaxtyping import Array

from .._typing import State, TimeMajor
from . import _platform, _trust
from ._base import AbstractScanBackend
from ._registry import get, kernels_for, register


class ScanBackendFallbackWarning(UserWarning):
    """`auto` preferred a backend that cannot run a call, or one not verified here, and used
    another."""


_warned: set[tuple[str, str]] = set()


@register
class Auto(AbstractScanBackend):
    """Chooses, at trace time, the fastest backend for the call among those trusted here.

    - A kernel written for this platform (`pallas_gpu` on Hopper and newer GPUs,
      `pallas_tpu` on TPU), once it is verified natively on this device kind: by the
      package's record or by `hawkzoo doctor` on this machine (see
      [`hawkzoo.backends.verify`][]).
    - Otherwise the pure-JAX backend for the platform: `sequential` on CPU, whose single
      pass is at the memory floor there; `chunked` on GPU and TPU, whose short loops over
      wide vectors suit parallel hardware.

    A kernel passed over for want of verification is named once per process, with the
    command that verifies it; a preferred backend that cannot run the call is skipped with
    one warning per (backend, reason). `sequential` runs everything and ends every list.
    """

    name = "auto"

    def preferences(self, a: Array, x: Array) -> tuple[AbstractScanBackend, ...]:
        """The backends `auto` tries for this call, in order."""
        del a, x
        platform = _platform.target_platform()
        trusted = [kernel for kernel in kernels_for(platform) if _trusted(kernel)]
        if platform == "cpu":
            return (*trusted, get("sequential"))
        return (*trusted, get("chunked"), get("sequential"))

    def select(self, a: TimeMajor, x: TimeMajor) -> AbstractScanBackend:
        *preferred, last = self.preferences(a, x)
        for backend in preferred:
            reason = backend.unsupported_reason(a, x)
            if reason is None:
                return backend
            if (backend.name, reason) not in _warned:
                _warned.add((backend.name, reason))
                _warn(f"scan backend {backend.name!r} cannot run this call ({reason})")
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


def _trusted(kernel: AbstractScanBackend) -> bool:
    if _trust.verified_by(kernel.name) is not None:
        return True
    key = _trust.here()
    if (kernel.name, key["device_kind"]) not in _warned:
        _warned.add((kernel.name, key["device_kind"]))
        _warn(
            f"scan backend {kernel.name!r} has not been verified on {key['device_kind']} "
            f"(JAX {key['jax']}, hawkzoo {key['hawkzoo']}); `hawkzoo doctor` verifies it "
            f"here, and backend={kernel.name!r} runs it regardless"
        )
    return False


def _warn(message: str) -> None:
    warnings.warn(f"auto: {message}; using the next one", ScanBackendFallbackWarning, stacklevel=5)
