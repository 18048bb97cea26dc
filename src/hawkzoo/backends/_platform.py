"""Where a scan will run: the platform JAX compiles for, and the CUDA GPU's capability."""

import re

import jax


def target_platform() -> str:
    """The platform JAX compiles for here: the default device's, else the default backend."""
    device = jax.config.jax_default_device
    if isinstance(device, jax.Device):
        return device.platform
    return device if isinstance(device, str) else jax.default_backend()


def cuda_capability() -> tuple[int, int] | None:
    """The compute capability of the GPU JAX targets, or None where that is no CUDA GPU."""
    device = jax.config.jax_default_device
    if not isinstance(device, jax.Device):
        if target_platform() != "gpu":
            return None
        device = jax.devices("gpu")[0]
    found = re.fullmatch(r"(\d+)\.(\d+)", str(getattr(device, "compute_capability", "")))
    return (int(found[1]), int(found[2])) if found else None
