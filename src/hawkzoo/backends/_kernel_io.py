"""How the Pallas backends see a problem: `(batch, time, channels)`, padded to whole blocks."""

import math
from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array

KernelScan = Callable[[Array, Array, Array], tuple[Array, Array]]


def unsupported_dtype_reason(dtype) -> str | None:
    """Why a kernel cannot take `dtype` (they step in float32 on real inputs), or None."""
    if dtype in (jnp.float32, jnp.bfloat16, jnp.float16):
        return None
    return f"the kernel takes float32, bfloat16 or float16, not {dtype}"


def scan_in_blocks(
    kernel_scan: KernelScan,
    a: Array,
    x: Array,
    h0: Array,
    *,
    axis: int,
    reverse: bool,
    step_multiple: int,
    channel_multiple: int,
) -> tuple[Array, Array]:
    """Runs `kernel_scan` on `(batch, time, channels)` views of a scan along `axis`.

    Dimensions before `axis` become the batch and those after it the channels. Time is
    padded to a multiple of `step_multiple` with `a = 1, x = 0`, which leaves the state
    unchanged (at the front when `reverse`, so the walk meets the padding first);
    channels to a multiple of `channel_multiple`. `h0` reaches the kernel in float32.
    """
    shape = x.shape
    batch, steps = math.prod(shape[:axis]), shape[axis]
    channels = math.prod(shape[axis + 1 :])
    pad_steps, pad_channels = -steps % step_multiple, -channels % channel_multiple
    time_pad = (pad_steps, 0) if reverse else (0, pad_steps)
    widths = ((0, 0), time_pad, (0, pad_channels))
    a = jnp.pad(a.reshape(batch, steps, channels), widths, constant_values=1)
    x = jnp.pad(x.reshape(batch, steps, channels), widths)
    h0_rows = jnp.pad(h0.reshape(batch, channels).astype(jnp.float32), ((0, 0), (0, pad_channels)))
    h, h_last = kernel_scan(a, x, h0_rows)
    h = h[:, pad_steps:] if reverse else h[:, :steps]
    h_last = h_last[:, :channels].astype(h0.dtype)
    return h[..., :channels].reshape(shape), h_last.reshape(h0.shape)
