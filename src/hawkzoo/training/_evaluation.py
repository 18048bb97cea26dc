"""Held-out bits per byte, loss by position, and task accuracy."""

import math

import jax
import numpy as np

from ..data import AbstractTask, Batch, Document, pack
from ..model import LanguageModel
from ..tokenizers._bytes import SPECIAL_IDS
from ._step import evaluate

ROWS_PER_CALL = 32


def held_out_rows(documents: tuple[Document, ...], seq_len: int) -> Batch:
    """The held-out documents packed into rows; only bytes count (not the end of a document)."""
    rows = pack(documents, seq_len)
    return rows._replace(mask=rows.mask & (rows.targets >= SPECIAL_IDS))


def totals(model: LanguageModel, rows: Batch) -> dict[str, float]:
    """`evaluate` summed over `rows`, a fixed number of rows per call (one compile)."""
    sums = {"nats": 0.0, "count": 0, "correct": 0}
    for start in range(0, len(rows.tokens), ROWS_PER_CALL):
        chunk = Batch(*(_padded(np.asarray(a[start : start + ROWS_PER_CALL])) for a in rows))
        for name, value in evaluate(model, chunk).items():
            sums[name] += value.item()
    return sums


def bits_per_byte(model: LanguageModel, rows: Batch) -> float:
    result = totals(model, rows)
    return result["nats"] / max(result["count"], 1) / math.log(2)


def accuracy(
    model: LanguageModel, task: AbstractTask, key: jax.Array, rows: int, length: int
) -> float:
    """The fraction of query positions recalled, over `rows` rows of `length` tokens."""
    result = totals(model, task.batch(key, rows, length))
    return result["correct"] / max(result["count"], 1)


def _padded(array: np.ndarray) -> np.ndarray:
    missing = ROWS_PER_CALL - len(array)
    return np.pad(array, [(0, missing)] + [(0, 0)] * (array.ndim - 1)) if missing else array
