"""Speculative decoding: the model's tokens, whatever the draft proposes."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy import stats

from hawkzoo.errors import InputError
from hawkzoo.model import LanguageModel
from hawkzoo.sampling import Generation, TokenChoice, generate, prefill

from ..official import small_config

MAX_NEW_TOKENS = 12
TOKEN = st.integers(1, 63)


@pytest.fixture(scope="module")
def griffin() -> LanguageModel:
    return LanguageModel(small_config("griffin"), key=jax.random.key(0))


@pytest.fixture(scope="module")
def drafts(griffin) -> dict[str, LanguageModel]:
    """Drafts of every kind, smaller than the model, and the model itself."""
    others = {
        pattern: LanguageModel(small_config(pattern, width=16, num_layers=2), key=jax.random.key(1))
        for pattern in ("hawk", "griffin", "mqa")
    }
    return others | {"itself": griffin}


def _greedy_step_is_a_near_tie(model: LanguageModel, tokens: list[int], at: int) -> bool:
    """Whether the model's two most likely tokens after `tokens[:at]` lie within float
    rounding of each other, where a chunk of tokens and one token may disagree."""
    logits, _ = model(jnp.asarray(tokens[:at]), jnp.arange(at))
    top_two = jax.lax.top_k(logits[-1], 2)[0]
    return bool(top_two[0] - top_two[1] < 1e-4)


@given(
    prompts=st.lists(st.lists(TOKEN, min_size=1, max_size=10), min_size=2, max_size=2),
    draft=st.sampled_from(["hawk", "griffin", "mqa", "itself"]),
    draft_tokens=st.sampled_from([1, 3, 4]),
    stop=TOKEN,
)
def test_greedy_speculation_gives_the_tokens_of_plain_greedy_decoding(
    griffin, drafts, prompts, draft, draft_tokens, stop
):
    def greedy(**given) -> Generation:
        return generate(
            griffin, prompts, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0, stop_tokens=[stop],
            **given,
        )  # fmt: skip

    plain, fast = greedy(), greedy(draft=drafts[draft], draft_tokens=draft_tokens)
    for prompt, want, got in zip(prompts, plain.rows(), fast.rows(), strict=True):
        if want != got:  # only where float rounding decides between two tokens
            at = next(i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b)
            assert _greedy_step_is_a_near_tie(griffin, prompt + want, len(prompt) + at)
            return
    assert np.array_equal(fast.stopped, plain.stopped)
    np.testing.assert_allclose(fast.log_probs, plain.log_probs, atol=1e-5)
    assert np.all(fast.drafted % draft_tokens == 0) and np.all(fast.accepted <= fast.drafted)
    if draft == "itself":
        assert np.array_equal(fast.accepted, fast.drafted)


def test_a_draft_that_is_the_model_has_every_sampled_token_accepted(griffin):
    fast = generate(
        griffin, [[1, 2, 3]] * 4, max_new_tokens=MAX_NEW_TOKENS, temperature=1.0,
        key=jax.random.key(3), draft=griffin, draft_tokens=3,
    )  # fmt: skip
    assert np.all(fast.drafted > 0)
    assert np.array_equal(fast.accepted, fast.drafted)


@pytest.mark.slow
def test_sampled_tokens_are_distributed_as_the_models_own():
    """20,000 draws of three tokens over an 8-token vocabulary, against the model's exact
    joint distribution (chi-squared); the same draws are far from the draft's."""
    vocab, prompt, rows, temperature = 8, [1, 2], 20_000, 1.0
    model = LanguageModel(small_config("griffin", vocab_size=vocab), key=jax.random.key(0))
    draft = LanguageModel(small_config("hawk", vocab_size=vocab), key=jax.random.key(1))
    drawn = generate(
        model, [prompt] * rows, max_new_tokens=3, temperature=temperature,
        key=jax.random.key(5), draft=draft, draft_tokens=2,
    )  # fmt: skip
    assert np.all(drawn.lengths == 3) and drawn.accepted.sum() > 0
    observed = np.bincount(np.ravel_multi_index(drawn.tokens.T, (vocab,) * 3), minlength=vocab**3)

    def p_value(model: LanguageModel) -> float:
        expected = rows * _joint_distribution(model, prompt, TokenChoice(temperature)).ravel()
        rare = expected < 5  # pooled, as the test needs
        expected = np.append(expected[~rare], expected[rare].sum())
        counts = np.append(observed[~rare], observed[rare].sum())
        return stats.chisquare(counts, expected * counts.sum() / expected.sum()).pvalue

    assert p_value(model) > 1e-3
    assert p_value(draft) < 1e-9


def _joint_distribution(model: LanguageModel, prompt: list[int], choice: TokenChoice):
    """`P[t0, t1, t2]` after `prompt`, in float64."""
    vocab = model.config.vocab_size
    pairs = np.array(list(itertools.product(range(vocab), repeat=2)))
    tokens = np.concatenate([np.tile(prompt, (len(pairs), 1)), pairs], axis=1)
    logits, _ = jax.vmap(lambda row: model(row, jnp.arange(len(row))))(jnp.asarray(tokens))
    p = np.asarray(choice.probabilities(logits[:, len(prompt) - 1 :]), np.float64)
    first = p[0, 0][:, None, None]
    second = p[:, 1].reshape(vocab, vocab, vocab)[:, 0][:, :, None]
    third = p[:, 2].reshape(vocab, vocab, vocab)
    return first * second * third


def test_a_draft_that_cannot_serve_is_refused(griffin, drafts):
    other_vocabulary = LanguageModel(small_config("hawk", vocab_size=32), key=jax.random.key(2))
    with pytest.raises(InputError, match="draft's vocabulary has 32 tokens and the model's 64"):
        generate(griffin, [[1]], max_new_tokens=4, draft=other_vocabulary)
    for k in (0, -1):
        with pytest.raises(InputError, match="draft_tokens"):
            generate(griffin, [[1]], max_new_tokens=4, draft=drafts["hawk"], draft_tokens=k)
    with pytest.raises(InputError, match="takes no prefix or on_token"):
        generate(griffin, [[2]], max_new_tokens=4, prefix=prefill(griffin, [1]), draft=griffin)
