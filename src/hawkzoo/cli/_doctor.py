"""`hawkzoo doctor`: check and time every scan backend on this machine."""

import argparse
import json
import os
import pathlib

from .. import backends
from .._checks import integer, optional, text, texts
from ..errors import InputError
from ..model import presets


def add_to(commands) -> None:
    parser = commands.add_parser(
        "doctor",
        help="check and time every scan backend on this machine",
        description="Check every scan backend against the float64 oracle on this machine's "
        "default device (values and gradients on fixed problems), time those that agree, and "
        "remember which kernels were verified so that `auto` may run them here.",
    )
    parser.add_argument(
        "--backend", action="append", help="only this backend (repeatable; default: all)"
    )
    parser.add_argument(
        "--interpret",
        action="store_true",
        help="also the kernels for other hardware, in Pallas's interpreters (small problems)",
    )
    parser.add_argument("--no-timing", action="store_true", help="check only, time nothing")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="a preset: also time a training step and decoding with each backend (repeatable)",
    )
    parser.add_argument("--repetitions", type=int, default=5, help="timed calls of each scan")
    parser.add_argument("--json", type=pathlib.Path, help="also write the report to this file")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    optional(texts([name for name in backends.registered() if name != "auto"])).check(
        "--backend", args.backend
    )
    for preset in args.model:
        text(presets()).check("--model", preset)
    integer(1).check("--repetitions", args.repetitions)
    if args.json is not None:
        _check_writable(args.json)
    report = backends.verify(
        args.backend,
        interpret=args.interpret,
        timing=not args.no_timing,
        models=args.model,
        repetitions=args.repetitions,
    )
    print(report.table())
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=1))
        print(f"wrote {args.json}")
    failed = [r.name for r in report.backends if r.native and r.refused is None and not r.verified]
    return 1 if failed else 0


def _check_writable(path: pathlib.Path) -> None:
    """Refuse a `--json` path that cannot take a file, before the minute of checks."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(f"--json {path}: its folder cannot be made ({error})") from None
    if path.is_dir() or not os.access(path.parent, os.W_OK):
        raise InputError(f"--json {path} cannot be written: give a file in a writable folder")
