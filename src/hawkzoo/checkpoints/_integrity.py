"""Checksums of a checkpoint's files: written last at save time, checked before reading."""

import hashlib
import json
import pathlib
from collections.abc import Iterable

from ..errors import CheckpointError

CHECKSUMS_FILE = "checksums.json"


def write_checksums(folder: pathlib.Path) -> None:
    """Record the size and SHA-256 of every file under `folder`."""
    files = sorted(
        file.relative_to(folder).as_posix()
        for file in folder.rglob("*")
        if file.is_file() and file.name not in (CHECKSUMS_FILE, f".{CHECKSUMS_FILE}.partial")
    )
    record = {
        name: {"bytes": (folder / name).stat().st_size, "sha256": _sha256(folder / name)}
        for name in files
    }
    partial = folder / f".{CHECKSUMS_FILE}.partial"
    partial.write_text(_dumps(_sealed(record)))
    partial.replace(folder / CHECKSUMS_FILE)


def verify(folder: pathlib.Path, only: Iterable[str] | None = None) -> None:
    """Raise `CheckpointError`, naming the file, unless every recorded file (or those in
    `only`) under `folder` is present and holds the bytes it was saved with."""
    record = _read_checksums(folder)
    names = list(record) if only is None else list(only)
    for name in names:
        file = folder / name
        if name not in record:
            raise CheckpointError(f"{folder}: {name} has no recorded checksum")
        saved = record[name]
        if not file.is_file():
            raise CheckpointError(f"{folder} is incomplete: {name} is missing")
        size = file.stat().st_size
        if size != saved["bytes"]:
            raise CheckpointError(
                f"{folder} is corrupt: {name} has {size} bytes, {saved['bytes']} were saved"
            )
        if _sha256(file) != saved["sha256"]:
            raise CheckpointError(
                f"{folder} is corrupt: {name} does not match the checksum saved with it"
            )


def _read_checksums(folder: pathlib.Path) -> dict[str, dict]:
    file = folder / CHECKSUMS_FILE
    try:
        text = file.read_text()
        record = json.loads(text)["files"]
        if _dumps(_sealed(record)) != text:  # any changed byte, even one JSON would ignore
            raise ValueError("not as written")
        return record
    except FileNotFoundError:
        raise CheckpointError(f"{folder} is incomplete: {CHECKSUMS_FILE} is missing") from None
    except (ValueError, UnicodeDecodeError, TypeError, KeyError):
        raise CheckpointError(f"{folder} is corrupt: {CHECKSUMS_FILE} is damaged") from None


def _sealed(record: dict) -> dict:
    """The record with its own digest, so that a change to it cannot pass for another."""
    return {"files": record, "sha256": hashlib.sha256(_dumps(record).encode()).hexdigest()}


def _dumps(record: dict) -> str:
    return json.dumps(record, indent=1, sort_keys=True) + "\n"


def _sha256(file: pathlib.Path) -> str:
    with file.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()
