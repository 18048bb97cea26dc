"""Meshes from a short description: `data=2,model=2,seq=2`."""

import math
from collections.abc import Mapping, Sequence

import jax
from jax.sharding import AxisType, Mesh

from ..backends._sequence_parallel import AXES
from ..errors import InputError


def parse_axes(text: str) -> dict[str, int]:
    """`"data=2,model=4"` as `{"data": 2, "model": 4}`."""
    sizes = {}
    for part in text.split(","):
        name, sep, size = part.strip().partition("=")
        if not sep or not size.strip().isdigit():
            raise InputError(f"a mesh is axis=size pairs like data=2,model=2,seq=2; got {text!r}")
        if name in sizes:
            raise InputError(f"mesh axis {name!r} is given twice in {text!r}")
        sizes[name] = int(size)
    return sizes


def make_mesh(
    axes: str | Mapping[str, int],
    devices: Sequence[jax.Device] | None = None,  # pyright: ignore[reportInvalidTypeForm]
) -> Mesh:
    """A mesh over `devices` (default: all of them) with named axes, e.g.
    `make_mesh("data=2,model=2,seq=2")`.

    The axes are `data` (batch rows), `model` (channels) and `seq` (time), in any order
    and any subset; their sizes multiply to the number of devices. The axes are
    `Auto`: the arrays hawkzoo places fix the layout, and GSPMD propagates it to
    everything else.
    """
    sizes = parse_axes(axes) if isinstance(axes, str) else dict(axes)
    unknown = sorted(set(sizes) - set(AXES))
    if unknown:
        raise InputError(f"unknown mesh axis {', '.join(unknown)}; the axes are {', '.join(AXES)}")
    for name, size in sizes.items():
        if not isinstance(size, int) or size < 1:
            raise InputError(f"mesh axis {name!r} must have a positive size, got {size!r}")
    devices = jax.devices() if devices is None else list(devices)
    if math.prod(sizes.values()) != len(devices):
        raise InputError(
            f"the mesh {_describe(sizes)} has {math.prod(sizes.values())} devices, "
            f"but there are {len(devices)} {devices[0].platform} devices"
        )
    return jax.make_mesh(
        tuple(sizes.values()),
        tuple(sizes),
        axis_types=(AxisType.Auto,) * len(sizes),
        devices=devices,
    )


def _describe(sizes: Mapping[str, int]) -> str:
    return ",".join(f"{name}={size}" for name, size in sizes.items())
