"""Where a scan will run: the platform JAX compiles for, its device kind, and the CUDA GPU's
capability."""

import re

import jax


def target_platform() -> str:
    """The platform JAX compiles for here: the default device's, else the default backend."""
    device = jax.config.jax_default_device
    if isinstance(device, jax.Device):
        return device.platform
    return device if isinstance(device, str) else jax.default_backend()


def target_device() -> jax.Device:  # pyright: ignore[reportInvalidTypeForm]
    """The first device of the platform JAX compiles for here."""
    device = jax.config.jax_default_device
    return device if isinstance(device, jax.Device) else jax.devices(target_platform())[0]


def device_kind() -> str:
    """The kind of device JAX compiles for here, e.g. `NVIDIA H200` or `cpu`."""
    return target_device().device_kind


def cuda_capability() -> tuple[int, int] | None:
    """The compute capability of the GPU JAX targets, or None where that is no CUDA GPU."""
    if target_platform() != "gpu":
        return None
    device = target_device()
    found = re.fullmatch(r"(\d+)\.(\d+)", str(getattr(device, "compute_capability", "")))
    return (int(found[1]), int(found[2])) if found else None
