"""The commands' `--backend` flag: the scan backend every model call runs under
([`hawkzoo.backends.use`][], which checks the name before any work)."""

import argparse

from .. import backends


def add_flag(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--backend",
        help=f"the scan backend of every model call ({', '.join(backends.registered())}; "
        f"default: {default}; a model's own scan_backend setting comes first)",
    )
