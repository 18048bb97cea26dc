"""Generation: one compiled loop over a batch of prompts of different lengths."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hawkzoo.model import LanguageModel
from hawkzoo.sampling import decode, generate

from ..official import small_config

PROMPTS = [[2, 5, 6, 7, 8, 9], [2, 9], [2, *range(10, 40)]]


# The MQA baseline compiles a decoding loop over a cache as long as the row: slow step.
@pytest.fixture(scope="module", params=["griffin", pytest.param("mqa", marks=pytest.mark.slow)])
def model(request) -> LanguageModel:
    window = None if request.param == "mqa" else 4
    config = small_config(request.param, attention_window=window)
    return LanguageModel(config, key=jax.random.key(0))


@pytest.fixture(scope="module")
def griffin() -> LanguageModel:
    return LanguageModel(small_config("griffin"), key=jax.random.key(0))


def test_greedy_tokens_are_the_argmax_of_recomputed_logits_with_their_log_probs(model):
    generation = generate(model, PROMPTS, max_new_tokens=12, temperature=0.0)
    assert generation.lengths.tolist() == [12, 12, 12] and not generation.stopped.any()
    for row, (prompt, new) in enumerate(zip(PROMPTS, generation.rows(), strict=True)):
        sequence = jnp.asarray(prompt + new)
        logits, _ = eqx.filter_jit(model)(sequence, jnp.arange(len(sequence)))
        predicted = logits[len(prompt) - 1 : -1].astype(jnp.float32)
        assert np.argmax(predicted, axis=-1).tolist() == new
        log_probs = np.asarray(jax.nn.log_softmax(predicted))[np.arange(len(new)), new]
        np.testing.assert_allclose(generation.row_log_probs()[row], log_probs, rtol=1e-4, atol=1e-5)


@pytest.mark.slow  # the sampler compiled for a batch and for one row: 11 s
def test_a_row_samples_the_same_tokens_alone_and_in_any_batch(griffin):
    settings: dict[str, Any] = dict(max_new_tokens=10, temperature=1.5, top_k=20, top_p=0.95)
    key = jax.random.key(7)
    batch = generate(griffin, PROMPTS, key=key, **settings)
    for row, prompt in enumerate(PROMPTS):
        alone = generate(griffin, [prompt], key=jax.random.fold_in(key, row)[None], **settings)
        assert alone.rows() == [batch.rows()[row]]
    again = generate(griffin, PROMPTS, key=key, **settings)
    assert np.array_equal(again.tokens, batch.tokens)
    other = generate(griffin, PROMPTS, key=jax.random.key(8), **settings)
    assert not np.array_equal(other.tokens, batch.tokens)


def test_each_row_stops_at_its_own_stop_tokens(model):
    free = generate(model, PROMPTS, max_new_tokens=8, temperature=0.0)
    stops = [[int(free.tokens[0, 2])], [], [int(free.tokens[2, 0]), int(free.tokens[2, 5])]]
    generation = generate(model, PROMPTS, max_new_tokens=8, temperature=0.0, stop_tokens=stops)
    first_stop_0 = free.tokens[0].tolist().index(stops[0][0]) + 1
    assert generation.lengths.tolist() == [first_stop_0, 8, 1]
    assert generation.stopped.tolist() == [True, False, True]
    assert generation.rows()[0] == free.rows()[0][:first_stop_0]
    assert not generation.log_probs[0, first_stop_0:].any() and (free.log_probs < 0).all()
    assert (generation.tokens[2, 1:] == 0).all()  # the pad after the stop


def test_streaming_delivers_every_token_in_order(griffin):
    seen = []
    generation = generate(
        griffin,
        PROMPTS,
        max_new_tokens=6,
        key=jax.random.key(1),
        stop_tokens=[[], [], []],
        on_token=lambda step, tokens, active: seen.append((int(step), tokens.copy())),
    )
    assert [step for step, _ in seen] == list(range(6))
    assert np.array_equal(np.stack([tokens for _, tokens in seen], axis=1), generation.tokens)


@pytest.mark.parametrize(
    "prompts, changes, message",
    [
        ([[]], {}, "prompt 0 is empty"),
        ([[2, 3], [2, 64]], {}, r"prompt 1 has token ids outside \[0, vocab_size=64\)"),
        ([[2] * 30], dict(max_length=32), "a prompt of 30 tokens and max_new_tokens=4 exceed"),
        ([[2]], dict(top_p=0.0), r"top_p must be a number in \(0, 1\] or None"),
        ([[2]], dict(top_k=0), "top_k must be a positive integer"),
        ([[2]], dict(max_new_tokens=0), "max_new_tokens must be a positive integer"),
        ([[2], [3]], dict(stop_tokens=[[1]]), "stop_tokens has 1 lists for 2 prompts"),
        ([[2], [3]], dict(key=jax.random.split(jax.random.key(0), 3)), "one per prompt"),
        ([[2]], dict(key=None), "needs a key"),
    ],
)
def test_bad_input_is_refused_with_the_reason(griffin, prompts, changes, message):
    settings: dict[str, Any] = dict(max_new_tokens=4, key=jax.random.key(0)) | changes
    with pytest.raises(ValueError, match=message):
        generate(griffin, prompts, **settings)


@pytest.mark.slow  # a prefill, the decoding loop and generate compiled: 11 s
def test_decoding_from_a_state_you_hold_equals_generate(griffin):
    prompts = [[2, 5, 6, 7], [2, 9, 10, 11]]
    tokens, positions = jnp.asarray(prompts), jnp.broadcast_to(jnp.arange(4), (2, 4))
    state = griffin.init_state(4 + 6, batch_size=2)
    logits, state = jax.vmap(lambda t, p, s: griffin(t, p, s))(tokens, positions, state)
    held = decode(
        griffin, state, logits[:, -1], positions[:, -1], max_new_tokens=6, temperature=0.0
    )
    assert held.rows() == generate(griffin, prompts, max_new_tokens=6, temperature=0.0).rows()
