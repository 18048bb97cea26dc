"""The commands' `--backend` flag: the scan backend every model call runs under."""

import argparse
import contextlib

from .. import backends


def add_flag(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--backend",
        help=f"the scan backend of every model call ({', '.join(backends.registered())}; "
        f"default: {default}; a model's own scan_backend setting comes first)",
    )


def using(backend: str | None) -> contextlib.AbstractContextManager:
    """The context that makes `backend` the default (checked now, by name), or none."""
    if backend is None:
        return contextlib.nullcontext()
    return backends.use(backends.get(backend))
