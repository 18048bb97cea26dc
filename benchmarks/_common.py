"""What every benchmark reports beside its figures: the versions and the machine."""

import os
import platform

import jax
import jaxlib
import numpy as np


def environment() -> dict:
    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "machine": f"{platform.machine()}, {platform.processor() or 'unknown CPU'}",
        "cpu_count": os.cpu_count(),
    }


def spread(seconds: list[float], per: float = 1.0) -> dict:
    """Median, p10 and p90 in milliseconds, of each time divided by `per`."""
    ms = np.asarray(seconds) * 1e3 / per
    return {
        "median_ms": float(np.median(ms)),
        "p10_ms": float(np.percentile(ms, 10)),
        "p90_ms": float(np.percentile(ms, 90)),
    }
