"""The flags of the commands that run as several processes (one per host) of one run."""

import argparse

from .. import distributed
from ..errors import InputError


def add_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "several processes",
        "run as one of several processes, one per host (hawkzoo launch, or the HAWKZOO_* "
        "variables, join them without these flags)",
    )
    group.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    group.add_argument("--num-processes", type=int, metavar="N", help="how many processes")
    group.add_argument("--process-id", type=int, metavar="I", help="this one's number, 0 to N-1")
    group.add_argument(
        "--cluster",
        action="store_true",
        help="join the processes of this cluster job, found by JAX (SLURM, Open MPI, Cloud "
        "TPU, ...)",
    )


def join(args: argparse.Namespace) -> None:
    """Join the other processes, if the flags or the `HAWKZOO_*` variables name any."""
    given = {"--coordinator": args.coordinator, "--num-processes": args.num_processes,
             "--process-id": args.process_id}  # fmt: skip
    if any(value is not None for value in given.values()):
        if args.cluster:
            raise InputError(f"--cluster finds the processes itself: not with {', '.join(given)}")
        missing = [flag for flag, value in given.items() if value is None]
        if missing:
            raise InputError(f"{', '.join(missing)} not given: give all of {', '.join(given)}")
        distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    elif args.cluster or distributed.launched():
        distributed.initialize()
