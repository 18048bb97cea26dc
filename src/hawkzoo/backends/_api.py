"""`linear_scan`: the one front end every recurrence goes through."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from .._typing import State, TimeMajor
from ..errors import InputError, InputTypeError
from ._base import AbstractScanBackend, accumulation_dtype, named_scope
from ._registry import current, get


def linear_scan(
    a: ArrayLike,
    x: ArrayLike,
    *,
    h0: ArrayLike | None = None,
    reset: ArrayLike | None = None,
    reverse: bool = False,
    backend: str | AbstractScanBackend | None = None,
) -> tuple[TimeMajor, State]:
    r"""The linear recurrence $h_t = a_t \odot h_{t-1} + x_t$, with $h_{-1} = h_0$.

    **Arguments:**

    - `a`, `x`: time-major arrays of shape `(T, *channels)` and one floating or complex
      dtype. Unbatched: add a batch with `jax.vmap`, which every backend handles without
      a transpose.
    - `h0`: the initial state, shape `channels`; zeros when None. Cast to the
      accumulation dtype (float32 for float32, bfloat16 and float16 inputs; complex64 for
      complex64; float64 and complex128 when x64 is on).
    - `reset`: bool, shape `(T,)`. Where true, the incoming state is dropped at that step
      ($a_t$ is taken as 0, as the official code does), which starts a new document in a
      packed sequence. Being a product, it carries a NaN or infinite state across.
    - `reverse`: run from the last step to the first, $h_t = a_t h_{t+1} + x_t$.
    - `backend`: a registered name or a backend instance; None means the current default
      (see [`hawkzoo.backends.use`][]).

    **Returns:**

    `(h, h_last)`: every state in `x.dtype`, and the final state (after the last step, or
    after step 0 when `reverse`) in the accumulation dtype, ready to continue from.

    **Raises:**

    `ValueError` or `TypeError` naming the bad argument, and
    [`hawkzoo.backends.UnsupportedScanError`][] when an explicitly chosen backend cannot
    run this call.
    """
    a, x, h0 = normalize(a, x, h0=h0, reset=reset)
    chosen = get(backend) if backend is not None else current()
    return scan_normalized(chosen, a, x, h0, reverse=reverse)


def normalize(
    a: ArrayLike, x: ArrayLike, *, h0: ArrayLike | None, reset: ArrayLike | None
) -> tuple[TimeMajor, TimeMajor, State]:
    """The checked problem every backend sees: resets folded into `a` (0 where set), and
    `h0` filled (zeros) and cast to the accumulation dtype."""
    a, x = _recurrence_inputs(a, x)
    h0 = _initial_state(h0, x, accumulation_dtype(x.dtype))
    if reset is not None:
        reset = _reset_mask(reset, x)
        a = jnp.where(reset.reshape(-1, *(1,) * (x.ndim - 1)), jnp.zeros((), a.dtype), a)
    return a, x, h0


def scan_normalized(
    backend: AbstractScanBackend, a: TimeMajor, x: TimeMajor, h0: State, *, reverse: bool
) -> tuple[TimeMajor, State]:
    """A normalised problem on `backend`, or in closed form for zero or one steps."""
    steps = x.shape[0]
    if steps == 0:
        return x, h0
    if steps == 1:
        with jax.named_scope("hawkzoo.backends.step"):
            h = a[0].astype(h0.dtype) * h0 + x[0].astype(h0.dtype)
            return h[None].astype(x.dtype), h
    chosen = backend.select(a, x)
    with named_scope(chosen):
        return chosen.scan(a, x, h0, reverse=reverse)


def _inexact(name: str, value: ArrayLike) -> Array:
    array = jnp.asarray(value)
    if not jnp.issubdtype(array.dtype, jnp.inexact):
        raise InputTypeError(f"{name} must be a floating or complex array, got dtype {array.dtype}")
    return array


def _recurrence_inputs(a: ArrayLike, x: ArrayLike) -> tuple[Array, Array]:
    a, x = _inexact("a", a), _inexact("x", x)
    if a.shape != x.shape:
        raise InputError(f"a and x must have one shape, got a {a.shape} and x {x.shape}")
    if a.dtype != x.dtype:
        raise InputTypeError(f"a and x must have one dtype, got a {a.dtype} and x {x.dtype}")
    if x.ndim == 0:
        raise InputError("a and x need a leading time axis, got scalars")
    return a, x


def _initial_state(h0: ArrayLike | None, x: Array, acc: jnp.dtype) -> Array:
    if h0 is None:
        return jnp.zeros(x.shape[1:], acc)
    h0 = _inexact("h0", h0)
    if h0.shape != x.shape[1:]:
        raise InputError(f"h0 must have the channel shape of x, {x.shape[1:]}, got {h0.shape}")
    if jnp.issubdtype(h0.dtype, jnp.complexfloating) and not jnp.issubdtype(
        acc, jnp.complexfloating
    ):
        raise InputTypeError(f"h0 is complex ({h0.dtype}) but x is real ({x.dtype})")
    return h0.astype(acc)


def _reset_mask(reset: ArrayLike, x: Array) -> Array:
    reset = jnp.asarray(reset)
    if reset.dtype != jnp.bool_:
        raise InputTypeError(f"reset must be a bool array, got dtype {reset.dtype}")
    if reset.shape != x.shape[:1]:
        raise InputError(f"reset must have shape (T,) = {x.shape[:1]}, got {reset.shape}")
    return reset
