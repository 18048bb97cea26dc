"""Text in, text out: `complete` is `generate` through a tokenizer."""

import jax
import pytest

from hawkzoo.errors import InputError
from hawkzoo.model import build
from hawkzoo.sampling import complete, generate
from hawkzoo.tokenizers import ByteTokenizer


def test_complete_encodes_generates_and_decodes_with_the_tokenizers_ids():
    model = build("tiny-hawk", key=jax.random.key(0), num_layers=1)  # bytes and more
    tokenizer = ByteTokenizer()
    texts = ["Hi", "there"]
    completions = complete(model, tokenizer, texts, max_new_tokens=6, temperature=0.0)
    generation = generate(
        model, [tokenizer.encode(text) for text in texts], max_new_tokens=6, temperature=0.0,
        stop_tokens=tokenizer.stop_ids, pad_id=tokenizer.pad_id,
    )  # fmt: skip
    for completion, tokens, log_probs in zip(
        completions, generation.rows(), generation.row_log_probs(), strict=True
    ):
        assert completion.tokens == tokens and completion.log_probs == log_probs
        assert completion.text == tokenizer.decode(tokens)
    with pytest.raises(InputError, match="a list of texts, not one text"):
        complete(model, tokenizer, "Hi", max_new_tokens=1, key=jax.random.key(0))
