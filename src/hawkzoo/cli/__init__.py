"""The `hawkzoo` command."""

import argparse
import sys
from collections.abc import Sequence

from . import _eval, _sample, _train


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hawkzoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _train.add_to(commands)
    _eval.add_to(commands)
    _sample.add_to(commands)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, ImportError) as error:
        print(f"hawkzoo {args.command}: error: {error}", file=sys.stderr)
        return 2
    except (FloatingPointError, OSError) as error:  # a run that failed, not its input
        print(f"hawkzoo {args.command}: error: {error}", file=sys.stderr)
        return 1
