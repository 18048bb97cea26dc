"""The linear recurrence with its time axis split across the devices of a mesh axis."""

import jax
import jax.numpy as jnp
from jax.sharding import AbstractMesh, AxisType, Mesh, NamedSharding, PartitionSpec as P
from jaxtyping import Array, ArrayLike

from .._axes import MODEL, SEQ
from .._typing import Sequence, State
from ._api import linear_scan
from ._base import AbstractScanBackend, accumulation_dtype


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
) -> tuple[Sequence, State]:
    r"""[`linear_scan`][hawkzoo.backends.linear_scan] with time split over `mesh`'s `axis`.

    Each device scans its slice of time from a zero state with the chosen backend, and
    the running product of its `a` with the same backend. A slice is then the affine map
    $h \mapsto A h + b$ from the state before it to the state after it; the maps of the
    slices before each device are composed in $\lceil \log_2 n \rceil$ rounds of
    `ppermute` (a Hillis-Steele scan over the $n$ devices), which gives each device its
    true start state, and the slice is corrected by linearity: $h_t + (\prod_{s \le t}
    a_s) h_{\text{start}}$. Gradients flow through every step, to `h0` included.

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
    jax.eval_shape(linear_scan, a, x, h0=h0, reset=reset)  # its checks name a bad argument
    a, x = jnp.asarray(a), jnp.asarray(x)
    if axis not in mesh.shape:
        raise ValueError(f"mesh has no axis {axis!r}; its axes are {tuple(mesh.shape)}")
    devices = mesh.shape[axis]
    if x.ndim == 0 or x.shape[0] % devices:
        raise ValueError(
            f"the sequence length {x.shape[:1]} must divide evenly over mesh axis {axis!r} "
            f"of size {devices}"
        )
    if channel_axis is not None:
        if channel_axis not in mesh.shape or channel_axis == axis:
            raise ValueError(
                f"channel_axis {channel_axis!r} must be another axis of the mesh; its axes "
                f"are {tuple(mesh.shape)}"
            )
        if x.ndim < 2 or x.shape[1] % mesh.shape[channel_axis]:
            raise ValueError(
                f"the channels {x.shape[1:2]} must divide evenly over mesh axis "
                f"{channel_axis!r} of size {mesh.shape[channel_axis]}"
            )
    acc = accumulation_dtype(x.dtype)
    h0 = jnp.zeros(x.shape[1:], acc) if h0 is None else jnp.asarray(h0, acc)
    reset = jnp.zeros(x.shape[:1], bool) if reset is None else jnp.asarray(reset)

    def local(a: Array, x: Array, h0: Array, reset: Array) -> tuple[Array, Array]:
        h, b = linear_scan(a, x, reset=reset, reverse=reverse, backend=backend)
        decay, _ = linear_scan(  # each step's product of this slice's decays so far
            a.astype(acc),
            jnp.zeros(a.shape, acc),
            h0=jnp.ones(a.shape[1:], acc),
            reset=reset,
            reverse=reverse,
            backend=backend,
        )
        last = -1 if not reverse else 0
        before = _state_before(decay[last], b, h0, axis, devices, reverse)
        h = h.astype(acc) + decay * before[None]
        end = h[last]
        order = _order(axis, devices, reverse)
        h_last = jax.lax.psum(jnp.where(order == devices - 1, end, jnp.zeros_like(end)), axis)
        return h.astype(x.dtype), h_last

    time, channels = (
        (P(axis), P()) if channel_axis is None else (P(axis, channel_axis), P(channel_axis))
    )
    specs = (time, time, channels, P(axis))
    inputs = (a, x, h0, reset)
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


def _order(axis: str, devices: int, reverse: bool) -> Array:
    """This device's place in scan order: the first slice scanned is 0."""
    index = jax.lax.axis_index(axis)
    return devices - 1 - index if reverse else index


def _from_earlier(value, distance: int, axis: str, devices: int, reverse: bool):
    """`value` from the device `distance` slices earlier in scan order (zeros where none)."""
    step = -distance if reverse else distance
    pairs = [(i, i + step) for i in range(devices) if 0 <= i + step < devices]
    return jax.tree.map(lambda v: jax.lax.ppermute(v, axis, pairs), value)


def _state_before(
    decay: Array, b: Array, h0: Array, axis: str, devices: int, reverse: bool
) -> Array:
    """The state entering this device's slice, from every earlier slice's map `(A, b)`."""
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
    A, b = _from_earlier((A, b), 1, axis, devices, reverse)  # exclusive: the slices before
    first = order == 0
    return jnp.where(first, h0, A * h0 + b)


def mesh_linear_scan(
    a: Array,
    x: Array,
    *,
    h0: Array | None = None,
    reset: Array | None = None,
    backend: str | AbstractScanBackend | None = None,
) -> tuple[Sequence, State]:
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
