"""Joining several processes into one JAX program, from arguments or the environment."""

import os
import socket
import sys
import time
from typing import Any

import jax
import numpy as np

from .._checks import integer
from ..errors import InputError

COORDINATOR = "HAWKZOO_COORDINATOR_ADDRESS"
NUM_PROCESSES = "HAWKZOO_NUM_PROCESSES"
PROCESS_ID = "HAWKZOO_PROCESS_ID"
"""The environment variables `initialize` reads (`hawkzoo launch` sets them)."""

HEARTBEAT_TIMEOUT_S = 20
"""How long the coordinator waits on a silent process before it stops them all, and a
process at exit waits for the others."""


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: int = 60,
) -> None:
    """Join this process to the others through `jax.distributed.initialize`; call it
    first thing, before any JAX computation. With no arguments, from `HAWKZOO_*`
    variables when set, else JAX's own detection of the cluster (Cloud TPU, SLURM, Open
    MPI, ...). On CPU, collectives go through gloo. A process that does not join within
    `timeout_s`, or stops answering for `HEARTBEAT_TIMEOUT_S`, stops the others.

    Raises `InputError` (one line, before JAX starts) for a coordinator that does not
    answer within `timeout_s`, or no cluster found where nothing was given."""
    if coordinator_address is None and num_processes is None and process_id is None:
        coordinator_address, num_processes, process_id = _from_environment()
    if num_processes is not None:
        integer(1).check("num_processes", num_processes)
        integer(0, num_processes - 1).check("process_id", process_id)
    if coordinator_address is not None and process_id not in (None, 0):
        _wait_for(coordinator_address, timeout_s)
    if not jax.config.jax_cpu_collectives_implementation:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(
            coordinator_address,
            num_processes,
            process_id,
            initialization_timeout=timeout_s,
            heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
            shutdown_timeout_seconds=HEARTBEAT_TIMEOUT_S,
        )
    except ValueError as error:  # JAX found no cluster to fill in what is not given
        raise InputError(
            f"no cluster found to join ({error}): give the coordinator's address, the "
            "number of processes and this one's id"
        ) from None


def _wait_for(address: str, timeout_s: int) -> None:
    """Wait until the coordinator at `address` (HOST:PORT) takes connections, for at
    most `timeout_s` (JAX itself aborts the process on a coordinator it cannot reach)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"the coordinator's address {address!r} is not HOST:PORT")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise InputError(
                    f"no coordinator answered at {address} within {timeout_s} s: start "
                    "process 0 there, or give its address"
                ) from None
            time.sleep(0.5)


def launched() -> bool:
    """Whether this process was started by a launcher that set the `HAWKZOO_*` variables."""
    return COORDINATOR in os.environ


def is_main_process() -> bool:
    """Whether this is process 0, which alone writes logs, metrics, plots and samples."""
    return jax.process_index() == 0


def _from_environment() -> tuple[str | None, int | None, int | None]:
    names = (COORDINATOR, NUM_PROCESSES, PROCESS_ID)
    given = [os.environ.get(name) for name in names]
    if not any(given):
        return None, None, None
    if not all(given):
        missing = [name for name, value in zip(names, given, strict=True) if not value]
        raise InputError(f"{', '.join(missing)} not set: give all of {', '.join(names)}")
    address, processes, process = given
    for name, value in ((NUM_PROCESSES, processes), (PROCESS_ID, process)):
        if not value.isdigit():  # pyright: ignore[reportOptionalMemberAccess]
            raise InputError(f"{name}={value!r} is not an integer ≥ 0")
    return address, int(processes), int(process)  # pyright: ignore[reportArgumentType]


def leave_now(exit_code: int) -> None:
    """End this process at once with `exit_code`, without waiting at JAX's shutdown
    barrier for the others (which a failed process would hold up): they stop when the
    coordinator misses it, or when the launcher stops them."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def barrier(name: str) -> None:
    """Wait until every process gets here (nothing to wait for in one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def gathered[T](tree: T) -> T:
    """`tree`'s arrays whole in every process (all of them must call this), on its
    default device: for work one process does alone, such as a sample."""
    if jax.process_count() == 1:
        return tree
    return jax.tree.map(jax.numpy.asarray, fetched(tree))


def fetched(tree: Any) -> Any:
    """`tree`'s arrays whole as NumPy arrays. Where some are spread over several
    processes' devices, every process must call this, and each gets them all."""
    leaves = jax.tree.leaves(tree)
    if all(not isinstance(leaf, jax.Array) or leaf.is_fully_addressable for leaf in leaves):
        return jax.tree.map(np.asarray, tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


type Block = tuple[slice, ...]
"""A box of an array: a slice for each dimension."""


def process_block(sharding: jax.sharding.Sharding, shape: tuple[int, ...]) -> Block:
    """The box of an array of `shape`, placed by `sharding`, whose shards this process's
    devices hold (the whole array in one process)."""
    boxes = sharding.addressable_devices_indices_map(shape).values()
    return tuple(
        slice(min(s.indices(n)[0] for s in sides), max(s.indices(n)[1] for s in sides))
        for n, sides in zip(shape, zip(*boxes, strict=True), strict=True)
    )


def from_process_blocks[T](tree: T, sharding: jax.sharding.Sharding, shape: tuple[int, ...]) -> T:
    """Global arrays of `shape`, placed by `sharding`, from each process's
    `process_block` of them (`tree`'s NumPy arrays)."""
    return jax.tree.map(
        lambda block: jax.make_array_from_process_local_data(sharding, block, shape), tree
    )


def shared_token() -> str:
    """Eight random hex digits, the same in every process (process 0's): a name they
    agree on."""
    token = np.frombuffer(os.urandom(4), np.uint32)
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        token = multihost_utils.broadcast_one_to_all(token)
    return f"{int(token[0]):08x}"


def placed[T](tree: T, shardings) -> T:
    """`jax.device_put(tree, shardings)`, where with several processes each keeps its own
    shards of a tree that every process holds alike (placed from the host: XLA:CPU moves
    no arrays between processes)."""
    if jax.process_count() > 1:
        tree = jax.tree.map(np.asarray, tree)
    return jax.device_put(tree, shardings)
