"""The registry of scan backends and the context that chooses the default one."""

import contextlib
import os
from collections.abc import Iterator

import jax

from ..errors import InputError, InputTypeError
from ._base import AbstractScanBackend

ENVIRONMENT_VARIABLE = "HAWKZOO_SCAN_BACKEND"

_backends: dict[str, type[AbstractScanBackend]] = {}

# Part of jax.jit's cache key: a function traced under one value retraces under another.
_default = jax.make_user_context(default_value=os.environ.get(ENVIRONMENT_VARIABLE, "auto"))


def register[B: type[AbstractScanBackend]](cls: B) -> B:
    """Class decorator: registers a backend under its lower-case `name`."""
    name = cls.name
    if name != name.lower() or not name.isidentifier():
        raise InputError(f"a backend name must be a lower-case identifier, got {name!r}")
    if name in _backends and _backends[name] is not cls:
        raise InputError(f"a scan backend named {name!r} is already registered")
    _backends[name] = cls
    return cls


def registered() -> tuple[str, ...]:
    """The names of the registered backends, sorted."""
    return tuple(sorted(_backends))


def kernels_for(platform: str) -> tuple[AbstractScanBackend, ...]:
    """The registered backends that are kernels written for `platform`, by name."""
    return tuple(cls() for _, cls in sorted(_backends.items()) if cls.kernel_for == platform)


def get(backend: str | AbstractScanBackend) -> AbstractScanBackend:
    """A backend instance from a registered name, or the instance itself."""
    if isinstance(backend, AbstractScanBackend):
        return backend
    if not isinstance(backend, str):
        raise InputTypeError(
            f"a scan backend is a registered name or an AbstractScanBackend, got {backend!r}"
        )
    try:
        return _backends[backend]()
    except KeyError:
        raise InputError(
            f"unknown scan backend {backend!r}; registered: {', '.join(registered())}"
        ) from None


def current() -> AbstractScanBackend:
    """The default backend here: the innermost `use`, else `$HAWKZOO_SCAN_BACKEND`, else auto."""
    value = _default.value
    try:
        return get(value)
    except ValueError as error:
        if value == os.environ.get(ENVIRONMENT_VARIABLE):
            raise InputError(f"${ENVIRONMENT_VARIABLE}: {error}") from None
        raise


def use(
    backend: str | AbstractScanBackend | None,
) -> contextlib.AbstractContextManager[AbstractScanBackend]:
    """Makes `backend` the default scan backend inside a `with` block (or a decorated function).

    The choice is part of `jax.jit`'s cache key, so a jitted function called inside the
    block runs this backend, retracing if it was traced under another. The value is
    thread-local; explicit `backend=` arguments and layer fields still win. A name is
    checked at the call, before the block; None leaves the current default in place (for
    an optional setting).
    """
    return _using(None if backend is None else get(backend))


@contextlib.contextmanager
def _using(chosen: AbstractScanBackend | None) -> Iterator[AbstractScanBackend]:
    if chosen is None:
        yield current()
        return
    with _default(chosen):
        yield chosen
