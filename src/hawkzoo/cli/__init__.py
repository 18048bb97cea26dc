"""The `hawkzoo` command."""

import argparse
import sys
import tempfile
import traceback
from collections.abc import Sequence

import jax

from .. import distributed
from ..errors import HawkzooError, InputError
from ..training import keep_freed_memory
from . import _doctor, _eval, _export, _launch, _processes, _sample, _train

COMMANDS = (_train, _eval, _sample, _export, _doctor, _launch)
SEVERAL_PROCESSES = ("train", "sample")
"""The commands that run as several processes under `hawkzoo launch`."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command. hawkzoo's own errors are one line and their exit code (2 for bad
    input); anything else is one line, the path of its traceback and exit code 1. A
    process of several that fails leaves at once."""
    code = _run(argv)
    if code and jax.distributed.is_initialized():
        distributed.leave_now(code)
    return code


def _run(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="hawkzoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_to(commands)
    for subparser in commands.choices.values():
        subparser.add_argument(
            "--debug", action="store_true", help="show an unexpected error's traceback"
        )
    args = parser.parse_args(argv)
    keep_freed_memory()
    try:
        if args.command in SEVERAL_PROCESSES:
            _processes.join(args)
        elif distributed.launched() and args.command != "launch":
            raise InputError(
                f"hawkzoo {args.command} runs as one process: under hawkzoo launch, run "
                f"{' or '.join(SEVERAL_PROCESSES)}, or a program that calls "
                "hawkzoo.distributed.initialize()"
            )
        return args.run(args)
    except HawkzooError as error:
        _say(args.command, f"error: {error}")
        return error.exit_code
    except KeyboardInterrupt:
        _say(args.command, "interrupted")
        return 130
    except Exception as error:
        if args.debug:
            raise
        with tempfile.NamedTemporaryFile(
            "w", prefix=f"hawkzoo-{args.command}-", suffix=".log", delete=False
        ) as log:
            traceback.print_exc(file=log)
        _say(
            args.command,
            f"unexpected error: {type(error).__name__}: {error} (traceback in {log.name}; "
            "--debug prints it)",
        )
        return 1


def _say(command: str, message: str) -> None:
    print(f"hawkzoo {command}: " + " ".join(message.split()), file=sys.stderr)
