"""Keep the memory of XLA:CPU's calls in the process between calls."""

import ctypes
import os

KEPT_BYTES = 1 << 30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_ENVIRONMENT = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> bool:
    """Have glibc's malloc serve blocks of up to `KEPT_BYTES` from its heap, and keep up
    to as much freed there, instead of mapping and unmapping each one.

    XLA:CPU allocates a call's temporaries as one block (283 MB for the main job's
    training step). By default glibc maps a block that large afresh at every call and
    unmaps it after, so the kernel zeroes its pages again each time: a third of the
    step's time on 2 cores. Returns whether it applied: not where the C library has no
    `mallopt` (it is not glibc), nor where the environment sets either threshold itself.
    """
    if any(name in os.environ for name in _ENVIRONMENT):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return all(
        mallopt(option, KEPT_BYTES) == 1 for option in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD)
    )
