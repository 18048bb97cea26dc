"""`hawkzoo launch`: several processes of a command as one JAX program on this machine."""

import argparse
import sys

from ..distributed import launch


def add_to(commands) -> None:
    parser = commands.add_parser(
        "launch",
        help="run a command as several processes (multi-host, tried on one machine)",
        description="Run a hawkzoo command (train, sample, ...) or any program that calls "
        "hawkzoo.distributed.initialize() as several processes joined over loopback, as "
        "hosts of a cluster would be; if one fails, the others are stopped.",
    )
    parser.add_argument("--processes", type=int, required=True, help="how many processes")
    parser.add_argument(
        "--devices-per-process", type=int, metavar="N", help="split the CPU into N devices each"
    )
    parser.add_argument(
        "program", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="the command to run"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    command = args.program[1:] if args.program[:1] == ["--"] else args.program
    if command and command[0] in _hawkzoo_commands():
        command = [sys.executable, "-m", "hawkzoo.cli", *command]
    return launch(command, processes=args.processes, devices_per_process=args.devices_per_process)


def _hawkzoo_commands() -> set[str]:
    from . import COMMANDS  # the package has loaded by the time a command runs

    return {module.__name__.rsplit("._", 1)[1] for module in COMMANDS}
