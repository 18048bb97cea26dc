"""The n-gram and gzip baselines."""

import gzip
import math

import pytest

from hawkzoo.data import Document, gzip_bits_per_byte, ngram_bits_per_byte


def test_an_order_0_model_is_witten_bell_over_the_uniform_distribution():
    train = [Document("t", b"aab")]
    held_out = [Document("h", b"ac")]
    # counts a: 2, b: 1 of 3, with 2 types: P(x) = (c(x) + 2 / 256) / (3 + 2)
    expected = -(math.log2((2 + 2 / 256) / 5) + math.log2((0 + 2 / 256) / 5)) / 2
    assert ngram_bits_per_byte(train, held_out, 0) == pytest.approx(expected, rel=1e-12)


def test_longer_contexts_predict_a_repeating_text_better_and_contexts_restart_per_document():
    train = [Document("t", b"abcabcabcabc" * 20)]
    bits = [ngram_bits_per_byte(train, [Document("h", b"abcabcabc")], order) for order in range(3)]
    assert bits[0] > bits[1] > bits[2] and bits[2] < 0.2
    # the held-out document's first byte has no context, as every training document's
    split = ngram_bits_per_byte(train, [Document("1", b"abc"), Document("2", b"abc")], 2)
    whole = ngram_bits_per_byte(train, [Document("1", b"abcabc")], 2)
    assert split > whole


def test_gzip_is_its_compressed_size_in_bits_per_byte():
    held_out = [Document("a", b"hello " * 50), Document("b", b"world")]
    size = len(gzip.compress(b"hello " * 50 + b"world", compresslevel=9, mtime=0))
    assert gzip_bits_per_byte(held_out) == 8 * size / 305
