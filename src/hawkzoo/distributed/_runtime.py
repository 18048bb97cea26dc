"""Joining several processes into one JAX program, from arguments or the environment."""

import os
import sys

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
    `timeout_s`, or stops answering for `HEARTBEAT_TIMEOUT_S`, stops the others."""
    if coordinator_address is None and num_processes is None and process_id is None:
        coordinator_address, num_processes, process_id = _from_environment()
    if num_processes is not None:
        integer(1).check("num_processes", num_processes)
        integer(0, num_processes - 1).check("process_id", process_id)
    if not jax.config.jax_cpu_collectives_implementation:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        initialization_timeout=timeout_s,
        heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S,
        shutdown_timeout_seconds=HEARTBEAT_TIMEOUT_S,
    )


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
    from jax.experimental import multihost_utils

    whole = multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(jax.numpy.asarray, whole)


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
