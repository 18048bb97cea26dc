"""Folders that appear whole or not at all, and the tokenizer file an export copies in."""

import contextlib
import os
import pathlib
import shutil
import uuid
from collections.abc import Iterator

from ..errors import ExistingPathError, MissingPathError

TOKENIZER_FILE = "tokenizer.model"
"""The SentencePiece model kept in a checkpoint folder, as the released ones have it."""


@contextlib.contextmanager
def new_folder(path: str | os.PathLike) -> Iterator[pathlib.Path]:
    """The path of a staging folder beside `path`, for the block to create and fill: it
    is renamed to `path` when the block ends, and deleted if it raises. `path` must not
    exist."""
    path = absent(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{path.name}.writing-{uuid.uuid4().hex[:8]}"
    try:
        yield staging
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def absent(path: str | os.PathLike) -> pathlib.Path:
    """`path`, absolute, checked to hold nothing an export would replace."""
    path = pathlib.Path(path).absolute()
    if path.exists():
        raise ExistingPathError(f"{path} exists: not replacing it")
    return path


def tokenizer_file(tokenizer: str | os.PathLike | None) -> pathlib.Path | None:
    """The SentencePiece file an export copies in as `tokenizer.model`, checked to exist
    before any work."""
    if tokenizer is not None and not os.path.isfile(tokenizer):
        raise MissingPathError(f"no tokenizer file at {os.fspath(tokenizer)}")
    return None if tokenizer is None else pathlib.Path(tokenizer)


def copy_tokenizer(tokenizer: pathlib.Path | None, folder: pathlib.Path) -> None:
    """Copy `tokenizer` (if any) into `folder` as `tokenizer.model`."""
    if tokenizer is not None:
        shutil.copyfile(tokenizer, folder / TOKENIZER_FILE)
