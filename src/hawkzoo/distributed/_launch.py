"""Several processes of one program on this machine, joined over loopback."""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

from .._checks import integer
from ..errors import InputError
from ._runtime import COORDINATOR, NUM_PROCESSES, PROCESS_ID

STOP_GRACE_S = 10
"""How long the others get to stop after one fails, before they are killed."""


def launch(
    command: Sequence[str], *, processes: int, devices_per_process: int | None = None
) -> int:
    """Run `command` as `processes` processes that join as one JAX program through a
    coordinator on 127.0.0.1 (each finds it in the `HAWKZOO_*` variables), with
    `devices_per_process` CPU devices each if given. If one fails, the others are
    stopped. Returns 0, or the exit code of the first process to fail (128 + the signal
    for one killed by a signal, as shells do), after saying which it was on stderr."""
    integer(1).check("processes", processes)
    if devices_per_process is not None:
        integer(1).check("devices_per_process", devices_per_process)
    if not command:
        raise InputError("give the command to launch, e.g. hawkzoo launch --processes 2 -- train")
    address = f"127.0.0.1:{_free_port()}"
    children = [
        subprocess.Popen(command, env=_environment(address, processes, i, devices_per_process))
        for i in range(processes)
    ]
    try:
        failed = _wait_for_first_failure(children)
    finally:
        _stop(children)
    if failed is None:
        return 0
    index, code = failed
    ended = (
        f"exited with code {code}" if code > 0 else f"was killed by {signal.Signals(-code).name}"
    )
    print(
        f"hawkzoo launch: process {index} of {processes} {ended}; the others were stopped",
        file=sys.stderr,
    )
    return code if code > 0 else 128 - code


def _environment(address: str, processes: int, index: int, devices: int | None) -> dict[str, str]:
    env = os.environ | {COORDINATOR: address, NUM_PROCESSES: str(processes), PROCESS_ID: str(index)}
    env["JAX_CPU_COLLECTIVES_IMPLEMENTATION"] = "gloo"
    if devices is not None:
        env["JAX_NUM_CPU_DEVICES"] = str(devices)
    return env


def _wait_for_first_failure(children: list[subprocess.Popen]) -> tuple[int, int] | None:
    """Wait until all have exited 0 (None) or one has failed: the index and code of the
    first to fail (each is awaited in a thread of its own, so the others' failures that
    follow it come after it)."""
    exits: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
    for index, child in enumerate(children):
        waiting = threading.Thread(target=_report_exit, args=(index, child, exits), daemon=True)
        waiting.start()
    for _ in children:
        index, code = exits.get()
        if code != 0:
            return index, code
    return None


def _report_exit(index: int, child: subprocess.Popen, exits: queue.SimpleQueue) -> None:
    exits.put((index, child.wait()))


def _stop(children: list[subprocess.Popen]) -> None:
    """Terminate those still running; kill those that outlast the grace period."""
    running = [child for child in children if child.poll() is None]
    for child in running:
        child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    for child in running:
        try:
            child.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
