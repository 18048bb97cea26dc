"""The synthetic tasks: every row is what its definition says."""

import jax
import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo.data import (
    InductionHeads,
    MultiQueryAssociativeRecall,
    Phonebook,
    SelectiveCopying,
    task,
)

keys = st.integers(0, 2**31 - 1).map(jax.random.key)


def _rows(task_, key, length, rows=4):
    batch = task_.batch(key, rows, length)
    assert all(a.shape == (rows, length) for a in batch)
    np.testing.assert_array_equal(batch.segment_pos[0], np.arange(length))
    assert batch.tokens.min() >= 0 and batch.tokens.max() < task_.vocab_size
    return [tuple(np.asarray(a[i]) for a in batch) for i in range(rows)]


@given(keys, st.sampled_from([32, 100]))
def test_selective_copying_asks_for_the_data_tokens_in_order_after_the_marker(key, length):
    copying = SelectiveCopying(num_data=8)
    for tokens, _, targets, mask in _rows(copying, key, length):
        context = length - 8
        data = tokens[:context][tokens[:context] != 0]
        assert len(data) == 8 and data.min() >= 2 and tokens[context] == 1
        assert not tokens[context + 1 :].any()  # noise: the answers are never shown
        np.testing.assert_array_equal(np.flatnonzero(mask), np.arange(context, length))
        np.testing.assert_array_equal(targets[mask], data)


@given(keys, st.sampled_from([3, 64]))
def test_induction_heads_asks_at_the_end_for_the_token_after_the_special_one(key, length):
    for tokens, _, targets, mask in _rows(InductionHeads(), key, length):
        (first, last) = np.flatnonzero(tokens == 0)
        assert last == length - 1 and first < length - 2
        np.testing.assert_array_equal(np.flatnonzero(mask), [length - 1])
        assert targets[-1] == tokens[first + 1]


@given(keys, st.sampled_from([32, 80]))
def test_mqar_queries_every_key_once_after_the_pairs_and_asks_for_its_value(key, length):
    mqar = MultiQueryAssociativeRecall(vocab_size=64, num_pairs=8)
    for tokens, _, targets, mask in _rows(mqar, key, length):
        keys_, values = tokens[:16:2], tokens[1:16:2]
        assert len(set(keys_)) == 8 and keys_.min() >= 1 and keys_.max() < 32
        assert values.min() >= 32 and values.max() < 64
        queries = np.flatnonzero(mask)
        assert len(queries) == 8 and all((q - 16) % 2 == 0 and q >= 16 for q in queries)
        assert sorted(tokens[queries]) == sorted(keys_)
        assert not np.delete(tokens[16:], queries - 16).any()  # non-queries are 0
        pairs = dict(zip(keys_, values, strict=True))
        assert [pairs[k] for k in tokens[queries]] == list(targets[queries])


def test_mqar_puts_most_queries_close_to_the_pairs():
    mqar = MultiQueryAssociativeRecall(vocab_size=64, num_pairs=4)
    batch = mqar.batch(jax.random.key(0), 200, 512)
    gaps = (np.flatnonzero(np.asarray(batch.mask).reshape(-1)) % 512 - 8) // 2
    assert np.median(gaps) < 40  # uniform over 252 slots would give about 126


@given(keys, st.sampled_from([33, 130]))
def test_phonebook_asks_for_the_number_of_a_name_in_the_book(key, length):
    for tokens, _, targets, mask in _rows(Phonebook(), key, length):
        np.testing.assert_array_equal(np.flatnonzero(mask), np.arange(length - 3, length))
        name, digits = tokens[-5:-3], targets[-3:]
        assert tokens[-3] == 2 and (tokens[-2:] == digits[:2]).all()
        body = tokens[np.flatnonzero(tokens)[0] : -5].reshape(-1, 7)
        book = {tuple(entry[:2]): tuple(entry[3:6]) for entry in body[:-2]}
        assert len(book) == len(body) - 2  # names are distinct
        assert (body[:, 2] == 2).all() and (body[:, 6] == 1).all()
        assert book[tuple(name)] == tuple(digits)
        assert all(book[tuple(e[:2])] == tuple(e[3:6]) for e in body[-2:])  # worked lookups


def test_the_same_key_gives_the_same_rows_and_another_key_others():
    induction = task("induction-heads", train_length=32)
    first = induction.batch(jax.random.key(1), 8)
    assert np.array_equal(first.tokens, induction.batch(jax.random.key(1), 8).tokens)
    assert not np.array_equal(first.tokens, induction.batch(jax.random.key(2), 8).tokens)


def test_bad_task_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown task 'copying'; tasks: selective-copying"):
        task("copying")
    with pytest.raises(ValueError, match="selective-copying needs rows of at least 32 tokens"):
        SelectiveCopying().batch(jax.random.key(0), 1, 20)
    with pytest.raises(ValueError, match="8 pairs need a vocabulary over 17"):
        MultiQueryAssociativeRecall(vocab_size=16)
