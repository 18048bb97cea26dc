"""Byte corpora: the standard library's own source, or the user's text files."""

import dataclasses
import hashlib
import importlib.resources
import os
import pathlib
import sysconfig
from typing import NamedTuple

from ..errors import InputError, MissingPathError

HELD_OUT_EVERY = 10
"""Every tenth document, from the first, is held out."""


class Document(NamedTuple):
    name: str
    data: bytes


@dataclasses.dataclass(frozen=True)
class Corpus:
    """Documents split by file into train and held-out, and the SHA-256 of all of them.

    The hash covers every document's name and bytes, in order: two corpora with one hash
    hold the same text (standard libraries differ between Python builds).
    """

    name: str
    train: tuple[Document, ...]
    held_out: tuple[Document, ...]
    sha256: str

    @classmethod
    def from_documents(cls, name: str, documents: list[Document]) -> "Corpus":
        documents = [document for document in documents if document.data]
        if not documents:
            raise InputError(f"{name} holds no text")
        if len(documents) == 1:  # one file: its last tenth is held out
            (document,) = documents
            cut = len(document.data) - max(1, len(document.data) // HELD_OUT_EVERY)
            train = (Document(document.name, document.data[:cut]),)
            held_out = (Document(document.name, document.data[cut:]),)
        else:
            train = tuple(d for i, d in enumerate(documents) if i % HELD_OUT_EVERY)
            held_out = tuple(d for i, d in enumerate(documents) if not i % HELD_OUT_EVERY)
        digest = hashlib.sha256()
        for document in documents:
            digest.update(f"{document.name}\0{len(document.data)}\0".encode())
            digest.update(document.data)
        return cls(name, train, held_out, digest.hexdigest())

    def describe(self) -> str:
        size = sum(len(d.data) for d in self.train + self.held_out)
        return (
            f"{self.name}: {len(self.train)} + {len(self.held_out)} held-out files, "
            f"{size:,} bytes, sha256 {self.sha256[:12]}"
        )


def stdlib_corpus() -> Corpus:
    """The built-in corpus: 147 top-level modules of this Python's standard library.

    The file list is pinned (`stdlib-files.txt`); their content differs between Python
    builds, which the corpus hash records.
    """
    listing = importlib.resources.files(__package__) / "stdlib-files.txt"
    names = [line for line in listing.read_text().splitlines() if not line.startswith("#")]
    root = pathlib.Path(sysconfig.get_paths()["stdlib"])
    missing = [name for name in names if not (root / name).is_file()]
    if missing:
        raise InputError(
            f"this Python's standard library at {root} lacks {len(missing)} of the built-in "
            f"corpus's files ({', '.join(missing[:5])}); give text with --data"
        )
    return Corpus.from_documents("stdlib", [Document(n, (root / n).read_bytes()) for n in names])


def text_corpus(path: str | os.PathLike) -> Corpus:
    """A file, or every file under a folder (hidden ones skipped), in name order."""
    path = pathlib.Path(path)
    if path.is_file():
        return Corpus.from_documents(str(path), [Document(path.name, path.read_bytes())])
    if not path.is_dir():
        raise MissingPathError(f"no such file or folder: {path}")
    files = sorted(
        file.relative_to(path)
        for file in path.rglob("*")
        if file.is_file() and not any(p.startswith(".") for p in file.relative_to(path).parts)
    )
    documents = [Document(str(file), (path / file).read_bytes()) for file in files]
    return Corpus.from_documents(str(path), documents)


def load_corpus(spec: str) -> Corpus:
    """The built-in corpus for `"stdlib"`, else [`text_corpus`][hawkzoo.data.text_corpus]."""
    return stdlib_corpus() if spec == "stdlib" else text_corpus(spec)
