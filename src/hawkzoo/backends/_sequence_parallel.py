"""The linear recurrence with its time axis split across the devices of a mesh axis."""

import functools

import jax
import jax.numpy as jnp
from jax.sharding import AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import Array, ArrayLike

from .._typing import State, TimeMajor
from ..errors import InputError
from ._api import linear_scan, normalize, scan_normalized
from ._base import AbstractScanBackend
from ._registry import current, get
from ._two_level import two_level_scan

DATA = "data"
"""The mesh axis over rows of a batch (and, optionally, the optimiser state)."""

MODEL = "model"
"""The mesh axis over channels: Megatron-style tensor parallelism."""

SEQ = "seq"
"""The mesh axis over time: the sequence-parallel scan."""

AXES = (DATA, MODEL, SEQ)
"""The mesh axes hawkzoo shards over."""


def sequence_parallel_scan(
    a: ArrayLike,
    x: ArrayLike,
    *,
    mesh: Mesh | AbstractMesh,
    axis: str = SEQ,
    channel_axis: str | None = None,
    h0: ArrayLike | None = None,
    reset: ArrayLike | None = None,
    reverse: bool = False,
    backend: str | AbstractScanBackend | None = None,
) -> tuple[TimeMajor, State]:
    r"""[`linear_scan`][hawkzoo.backends.linear_scan] with time split over `mesh`'s `axis`.

    The two-level plan of the `chunked` backend, with devices as the chunks. Each device
    summarises its slice of time with the chosen backend: the product $A$ of its `a` and
    its final state $b$ from zero, so that the slice is the affine map $h \mapsto A h + b$.
    The maps of the slices before each device are composed in $\lceil \log_2 n \rceil$
    rounds of `ppermute` (a Hillis-Steele scan over the $n$ devices), which gives each
    device its true start state, and every device rescans its slice from it. Gradients
    flow through every step, to `h0` included.

    **Arguments:** as for `linear_scan`, plus

    - `mesh`: the device mesh (or the abstract mesh of `jax.set_mesh`); `a`, `x` and
      `reset` are split along time over `axis`, `h0` and the final state are not.
    - `axis`: the mesh axis that splits time. Its size must divide `T`.
    - `channel_axis`: a mesh axis that splits the first channel axis too (the model
      axis: channels never mix), or None to keep channels whole on every device.

    Arrays are replicated over the mesh's other axes; under `jax.vmap(...,
    spmd_axis_name=...)` the batch is split over that axis.

    **Returns:** `(h, h_last)` as `linear_scan` returns them, `h` split over `axis`.
    """
    a, x, h0 = normalize(a, x, h0=h0, reset=reset)
    chosen = get(backend) if backend is not None else current()
    devices = _checked_size(mesh, axis, x.shape, 0, "the sequence length")
    if channel_axis is not None:
        if channel_axis == axis:
            raise InputError(f"channel_axis {channel_axis!r} must be another axis than {axis!r}")
        _checked_size(mesh, channel_axis, x.shape, 1, "the channels")

    def local(a: Array, x: Array, h0: Array) -> tuple[Array, Array]:
        def summarize():
            _, local_last = scan_normalized(chosen, a, x, jnp.zeros_like(h0), reverse=reverse)
            return jnp.prod(a.astype(h0.dtype), axis=0), local_last

        def rescan(start):
            return scan_normalized(chosen, a, x, start, reverse=reverse)[0]

        carry = functools.partial(
            _carry_across_devices, axis=axis, devices=devices, reverse=reverse
        )
        return two_level_scan(summarize, carry, rescan, h0)

    time, channels = (
        (P(axis), P()) if channel_axis is None else (P(axis, channel_axis), P(channel_axis))
    )
    specs = (time, time, channels)
    inputs = (a, x, h0)
    if AxisType.Explicit in mesh.axis_types:  # shard_map takes inputs as they are split
        inputs = tuple(
            jax.reshard(value, NamedSharding(mesh, spec))
            for value, spec in zip(inputs, specs, strict=True)
        )
    # check_vma=False: the backends' loops start from fresh zeros, which shard_map's types
    # call the same on every device and refuse to mix with each device's slice. What
    # out_specs call replicated is: the final state is summed over the axis.
    return jax.shard_map(
        local, mesh=mesh, in_specs=specs, out_specs=(time, channels), check_vma=False
    )(*inputs)


def _checked_size(mesh: Mesh | AbstractMesh, axis: str, shape, dim: int, what: str) -> int:
    """The size of mesh axis `axis`, which must divide `shape[dim]`."""
    if axis not in mesh.shape:
        raise InputError(f"mesh has no axis {axis!r}; its axes are {tuple(mesh.shape)}")
    size = mesh.shape[axis]
    if len(shape) <= dim or shape[dim] % size:
        raise InputError(
            f"{what} {shape[dim : dim + 1]} must divide evenly over mesh axis {axis!r} "
            f"of size {size}"
        )
    return size


def _order(axis: str, devices: int, reverse: bool) -> Array:
    """This device's place in scan order: the first slice scanned is 0."""
    index = jax.lax.axis_index(axis)
    return devices - 1 - index if reverse else index


def _from_earlier(value, distance: int, axis: str, devices: int, reverse: bool):
    """`value` from the device `distance` slices earlier in scan order (zeros where none)."""
    step = -distance if reverse else distance
    pairs = [(i, i + step) for i in range(devices) if 0 <= i + step < devices]
    return jax.tree.map(lambda v: jax.lax.ppermute(v, axis, pairs), value)


def _carry_across_devices(
    decay: Array, b: Array, h0: Array, axis: str, devices: int, reverse: bool
) -> tuple[Array, Array]:
    """The state entering this device's slice, from every earlier slice's map `(A, b)`,
    and the state after the last slice (on every device)."""
    order = _order(axis, devices, reverse)
    A = decay
    distance = 1
    while distance < devices:  # inclusive prefix of the maps, in log2(devices) rounds
        earlier_A, earlier_b = _from_earlier((A, b), distance, axis, devices, reverse)
        has_earlier = order >= distance
        A, b = (
            jnp.where(has_earlier, A * earlier_A, A),
            jnp.where(has_earlier, A * earlier_b + b, b),
        )
        distance *= 2
    end = A * h0 + b  # the state after this device's slice
    start = jnp.where(order == 0, h0, _from_earlier(end, 1, axis, devices, reverse))
    h_last = jax.lax.psum(jnp.where(order == devices - 1, end, jnp.zeros_like(end)), axis)
    return start, h_last


def mesh_linear_scan(
    a: Array,
    x: Array,
    *,
    h0: Array | None = None,
    reset: Array | None = None,
    backend: str | AbstractScanBackend | None = None,
) -> tuple[TimeMajor, State]:
    """`linear_scan`, or under `jax.set_mesh` with a `seq` axis the sequence-parallel
    scan over it (channels split over the `model` axis where they divide)."""
    mesh = jax.sharding.get_abstract_mesh()
    types = dict(zip(mesh.axis_names, mesh.axis_types, strict=True))
    if types.get(SEQ, AxisType.Manual) == AxisType.Manual or mesh.shape[SEQ] == 1 or len(x) == 1:
        return linear_scan(a, x, h0=h0, reset=reset, backend=backend)
    channel_axis = MODEL if MODEL in types and x.shape[1] % mesh.shape[MODEL] == 0 else None
    return sequence_parallel_scan(
        a, x, mesh=mesh, channel_axis=channel_axis, h0=h0, reset=reset, backend=backend
    )
