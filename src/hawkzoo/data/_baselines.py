"""What a model of bytes should beat: n-gram models and gzip, in bits per byte."""

import gzip

import numpy as np

from ._corpus import Document

START = 256
"""The context symbol before a document's first byte."""


def ngram_bits_per_byte(
    train: tuple[Document, ...] | list[Document],
    held_out: tuple[Document, ...] | list[Document],
    order: int,
) -> float:
    """Held-out bits per byte of a byte n-gram model that conditions on `order` bytes.

    Counted on `train`, interpolated Witten-Bell down to a uniform distribution over
    the 256 bytes; every document's context starts empty (padded with a start symbol).
    """
    train_contexts = [_contexts(document.data, order) for document in train]
    held_contexts = [_contexts(document.data, order) for document in held_out]
    seen = np.concatenate([_bytes(document) for document in train])
    wanted = np.concatenate([_bytes(document) for document in held_out])
    probability = np.full(len(wanted), 1 / 256)
    for length in range(order + 1):
        context = np.concatenate([c[length] for c in train_contexts])
        query = np.concatenate([c[length] for c in held_contexts])
        pairs, pair_counts = np.unique(context * 256 + seen, return_counts=True)
        contexts, context_counts = np.unique(context, return_counts=True)
        types = np.bincount(np.searchsorted(contexts, pairs // 256), minlength=len(contexts))
        pair_count = _lookup(pairs, pair_counts, query * 256 + wanted)
        context_count = _lookup(contexts, context_counts, query)
        context_types = _lookup(contexts, types, query)
        total = context_count + context_types
        probability = np.where(
            total > 0,
            (pair_count + context_types * probability) / np.maximum(total, 1),
            probability,
        )
    return float(-np.log2(probability).mean())


def gzip_bits_per_byte(held_out: tuple[Document, ...] | list[Document]) -> float:
    """`gzip -9` of the held-out documents end to end, in bits per byte."""
    data = b"".join(document.data for document in held_out)
    return 8 * len(gzip.compress(data, compresslevel=9, mtime=0)) / len(data)


def _bytes(document: Document) -> np.ndarray:
    return np.frombuffer(document.data, np.uint8).astype(np.int64)


def _contexts(data: bytes, order: int) -> list[np.ndarray]:
    """For every byte, its preceding 0, 1, ..., `order` bytes as one integer each."""
    padded = np.concatenate([np.full(order, START), np.frombuffer(data, np.uint8)]).astype(np.int64)
    contexts, code = [np.zeros(len(data), np.int64)], np.zeros(len(data), np.int64)
    for back in range(1, order + 1):
        code = code * 257 + padded[order - back : order - back + len(data)]
        contexts.append(code.copy())
    return contexts


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`values` at `query` in the sorted `keys`, 0 where absent."""
    index = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[index] == query, values[index], 0)
