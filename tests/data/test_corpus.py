"""The built-in corpus, text corpora and packing."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from hawkzoo.data import Document, PackedText, pack, stdlib_corpus, text_corpus
from hawkzoo.data._corpus import HELD_OUT_EVERY
from hawkzoo.tokenizers._bytes import SPECIAL_IDS


def test_the_built_in_corpus_is_the_pinned_files_split_by_file_with_a_stable_hash():
    corpus = stdlib_corpus()
    assert (len(corpus.train), len(corpus.held_out)) == (132, 15)
    assert corpus.held_out[0].name == "__future__.py"
    assert not {d.name for d in corpus.train} & {d.name for d in corpus.held_out}
    assert stdlib_corpus().sha256 == corpus.sha256 and len(corpus.sha256) == 64


def test_a_folder_is_its_files_in_name_order_hidden_ones_skipped(tmp_path):
    for name in ["b.txt", "a/c.txt", ".git/x", "a/.hidden"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    names = [f"d{i:02}.txt" for i in range(12)]
    for name in names:
        (tmp_path / "many" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "many" / name).write_text(name)
    corpus = text_corpus(tmp_path)
    in_order = ["a/c.txt", "b.txt", *(f"many/{name}" for name in names)]
    assert [d.name for d in corpus.held_out] == in_order[::HELD_OUT_EVERY]
    assert [d.name for d in corpus.train] == [n for n in in_order if n not in in_order[::10]]
    changed = tmp_path / "b.txt"
    changed.write_text("B")
    assert text_corpus(tmp_path).sha256 != corpus.sha256


def test_one_file_holds_out_its_last_tenth(tmp_path):
    (tmp_path / "one.txt").write_bytes(bytes(range(100)))
    corpus = text_corpus(tmp_path / "one.txt")
    assert corpus.train[0].data + corpus.held_out[0].data == bytes(range(100))
    assert len(corpus.held_out[0].data) == 10


def test_no_text_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        text_corpus(tmp_path / "missing")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="holds no text"):
        text_corpus(tmp_path)


@given(st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=6), st.integers(2, 9))
def test_packed_rows_are_the_documents_end_to_end_with_resetting_positions(texts, seq_len):
    documents = [Document(str(i), text) for i, text in enumerate(texts)]
    stream = np.concatenate([[2, *(np.frombuffer(t, np.uint8) + SPECIAL_IDS), 1] for t in texts])
    positions = np.concatenate([np.arange(len(t) + 2) for t in texts])
    if len(stream) - 1 < seq_len:
        with pytest.raises(ValueError, match="fill no row"):
            pack(documents, seq_len)
        return
    rows = pack(documents, seq_len)
    n = rows.tokens.size
    np.testing.assert_array_equal(rows.tokens.reshape(-1), stream[:n])
    np.testing.assert_array_equal(rows.targets.reshape(-1), stream[1 : n + 1])
    np.testing.assert_array_equal(rows.segment_pos.reshape(-1), positions[:n])
    # a target counts unless it starts the next document (its BOS)
    np.testing.assert_array_equal(rows.mask.reshape(-1), positions[1 : n + 1] != 0)


def test_batches_are_a_pure_function_of_the_step_and_visit_every_row_once_an_epoch():
    documents = tuple(Document(str(i), bytes([65 + i]) * (5 + 3 * i)) for i in range(8))
    text = PackedText(documents, seq_len=4, seed=1)
    rows_per_epoch = len(pack(documents, 4).tokens)
    batches = [text.batch(step, 3) for step in range(rows_per_epoch)]  # three epochs
    again = PackedText(documents, seq_len=4, seed=1).batch(5, 3)
    assert all(np.array_equal(a, b) for a, b in zip(again, batches[5], strict=True))
    tokens = np.concatenate([b.tokens for b in batches])
    for epoch in range(3):
        packed, _ = text._epoch(epoch)  # this epoch's document order, packed
        seen = tokens[epoch * rows_per_epoch : (epoch + 1) * rows_per_epoch]
        assert sorted(map(tuple, seen)) == sorted(map(tuple, packed.tokens))
    other = PackedText(documents, seq_len=4, seed=2).batch(0, 3)
    assert not np.array_equal(other.tokens, batches[0].tokens)
