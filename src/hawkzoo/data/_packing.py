"""Documents packed into fixed-length rows, with each token's position in its document."""

import dataclasses
import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from jaxtyping import Array, Bool, Int

from ..errors import InputError
from ..tokenizers import ByteTokenizer, Tokenizer
from ..tokenizers._bytes import SPECIAL_IDS
from ._corpus import Document

BYTES = ByteTokenizer()


class Batch(NamedTuple):
    """Rows to train or evaluate on; `mask` marks the targets that count."""

    tokens: Int[Array | np.ndarray, "batch seq"]
    segment_pos: Int[Array | np.ndarray, "batch seq"]
    targets: Int[Array | np.ndarray, "batch seq"]
    mask: Bool[Array | np.ndarray, "batch seq"]


@functools.lru_cache(maxsize=4096)  # documents are packed afresh each epoch
def document_ids(document: Document, tokenizer: Tokenizer = BYTES) -> np.ndarray:
    """BOS, the document's ids, EOS (read-only): its bytes with the byte tokenizer; with
    another, its text (UTF-8, a bad byte read as U+FFFD) as `tokenizer` encodes it."""
    if isinstance(tokenizer, ByteTokenizer):
        ids = np.frombuffer(document.data, np.uint8).astype(np.int32) + SPECIAL_IDS
    else:
        text = document.data.decode("utf-8", errors="replace")
        ids = np.asarray(tokenizer.encode(text, add_bos=False), np.int32)
    ids = np.concatenate([[tokenizer.bos_id], ids, [tokenizer.eos_id]]).astype(np.int32)
    ids.flags.writeable = False
    return ids


def pack(
    documents: list[Document] | tuple[Document, ...], seq_len: int, tokenizer: Tokenizer = BYTES
) -> Batch:
    """Documents as `tokenizer`'s ids (see `document_ids`) end to end, cut into rows of
    `seq_len` (the tail that fills no row is dropped). A target counts where it is in the
    same document as its input: documents never see each other, since every document
    starts at position 0."""
    each = [document_ids(document, tokenizer) for document in documents]
    ids = np.concatenate(each)
    positions = np.concatenate([np.arange(len(document)) for document in each])
    rows = (len(ids) - 1) // seq_len
    if rows < 1:
        raise InputError(f"{len(ids)} tokens of text fill no row of {seq_len} tokens")
    cut = rows * seq_len
    shape = (rows, seq_len)
    next_positions = positions[1 : cut + 1].reshape(shape)
    return Batch(
        tokens=ids[:cut].reshape(shape),
        segment_pos=positions[:cut].reshape(shape).astype(np.int32),
        targets=ids[1 : cut + 1].reshape(shape),
        mask=next_positions > 0,
    )


@dataclasses.dataclass(frozen=True)
class PackedText:
    """Training batches from documents, a pure function of the step.

    Each epoch packs the documents in an order drawn from `(seed, epoch)` and visits its
    rows in an order drawn likewise; step `s` takes rows `s * batch_size` onwards. So a run
    resumed at step `s` sees what an uninterrupted run sees.
    """

    documents: tuple[Document, ...]
    seq_len: int
    seed: int
    tokenizer: Tokenizer = BYTES

    def __post_init__(self):
        self._epoch(0)  # refuses text too short for one row, at once

    def batch(self, step: int, batch_size: int, rows: Sequence[int] | None = None) -> Batch:
        """Step `step`'s batch of `batch_size` rows, or only its `rows` (their indices in
        it, in that order)."""
        rows_per_epoch = len(self._epoch(0)[1])
        picked = []
        for index in range(batch_size) if rows is None else rows:
            row = step * batch_size + index
            packed, order = self._epoch(row // rows_per_epoch)
            picked.append([array[order[row % rows_per_epoch]] for array in packed])
        return Batch(*map(np.stack, zip(*picked, strict=True)))

    def _epoch(self, epoch: int) -> tuple[Batch, np.ndarray]:
        return _epoch(self.documents, self.seq_len, self.seed, epoch, self.tokenizer)


@functools.lru_cache(maxsize=2)
def _epoch(
    documents: tuple[Document, ...], seq_len: int, seed: int, epoch: int, tokenizer: Tokenizer
) -> tuple[Batch, np.ndarray]:
    """An epoch's packed rows (documents in an order drawn from the seed) and row order."""
    rng = np.random.default_rng([seed, epoch])
    packed = pack([documents[i] for i in rng.permutation(len(documents))], seq_len, tokenizer)
    return packed, rng.permutation(len(packed.tokens))
