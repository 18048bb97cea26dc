"""Held-out bits per byte, loss by position, and task accuracy."""

import math

import equinox as eqx
import jax
import numpy as np

from ..backends._sequence_parallel import DATA
from ..data import AbstractTask, Batch, Document, pack
from ..data._packing import BYTES
from ..errors import InputError
from ..model import LanguageModel
from ..tokenizers import Tokenizer
from ._step import evaluate, token_losses

TOKENS_PER_CALL = 8192
_losses = eqx.filter_jit(token_losses)


def held_out_rows(
    documents: tuple[Document, ...], seq_len: int, tokenizer: Tokenizer = BYTES
) -> Batch:
    """The held-out documents packed into rows of `tokenizer`'s ids; only text counts (not
    the end of a document)."""
    rows = pack(documents, seq_len, tokenizer)
    special = [tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id]
    return rows._replace(mask=rows.mask & ~np.isin(rows.targets, special))


def totals(model: LanguageModel, rows: Batch) -> dict[str, float]:
    """`evaluate` summed over `rows`, in calls of one shape (one compile)."""
    sums = {"nats": 0.0, "count": 0, "correct": 0}
    for chunk in _chunks(rows):
        for name, value in evaluate(model, chunk).items():
            sums[name] += value.item()
    return sums


def loss_by_position(
    model: LanguageModel,
    documents: tuple[Document, ...],
    length: int,
    *,
    window: int | None = None,
) -> np.ndarray:
    """Mean nats of each of the first `length` predictions, over the documents that long.

    `window`: read each document as rows of `window` bytes, one starting every
    `window / 2` (each read afresh at its true positions, as training rows are), and take
    each prediction from the first row or from the second half of a later one: it sees at
    most `window` bytes back, and past the first row at least `window / 2`. None: each
    prediction sees the whole document before it."""
    long = [document for document in documents if len(document.data) > length]
    if not long:
        raise InputError(f"no held-out document has more than {length} bytes")
    if window is not None and not (
        2 <= window <= length and length % (window // 2) == 0 == window % 2
    ):
        raise InputError(
            f"window={window} must be even, at most length={length} and its half divide it; or None"
        )
    size = length if window is None else window
    first_rows = [pack([Document(d.name, d.data[:length])], length) for d in long]  # one each
    whole = Batch(*map(np.concatenate, zip(*first_rows, strict=True)))
    starts = range(0, length - size + 1, size // 2)
    rows = Batch(
        *(np.stack([a[:, s : s + size] for s in starts], 1).reshape(-1, size) for a in whole)
    )
    nll = np.concatenate([np.asarray(_losses(model, chunk)[0]) for chunk in _chunks(rows)])
    nll = nll[: len(rows.tokens)].reshape(len(long), len(starts), size)
    later = nll[:, 1:, size // 2 :].reshape(len(long), -1)  # empty for the whole document
    return np.concatenate([nll[:, 0], later], axis=1).mean(axis=0)


def bits_per_byte(model: LanguageModel, rows: Batch, tokenizer: Tokenizer = BYTES) -> float:
    """Nats over the counted targets of `rows`, in bits, per UTF-8 byte those targets stand
    for (one each with the byte tokenizer; see `Tokenizer.token_bytes`)."""
    size = int(tokenizer.token_bytes()[np.asarray(rows.targets)][np.asarray(rows.mask)].sum())
    return totals(model, rows)["nats"] / max(size, 1) / math.log(2)


def accuracy(
    model: LanguageModel, task: AbstractTask, key: jax.Array, rows: int, length: int
) -> float:
    """The fraction of query positions recalled, over `rows` rows of `length` tokens."""
    result = totals(model, task.batch(key, rows, length))
    return result["correct"] / max(result["count"], 1)


def _chunks(rows: Batch):
    """`rows` in chunks of about `TOKENS_PER_CALL` tokens, the last padded (not counted);
    under `jax.set_mesh`, a multiple of its `data` axis."""
    split = jax.sharding.get_abstract_mesh().shape.get(DATA, 1)
    size = math.ceil(max(1, TOKENS_PER_CALL // rows.tokens.shape[1]) / split) * split
    for start in range(0, len(rows.tokens), size):
        chunk = [np.asarray(array[start : start + size]) for array in rows]
        missing = size - len(chunk[0])
        yield Batch(*(np.pad(a, [(0, missing), (0, 0)]) for a in chunk))
