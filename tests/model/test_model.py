"""The language model as users hold it: call, batch, differentiate, save, continue."""

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from hawkzoo.model import LanguageModel, ModelConfig, build, embedding_multiplier
from hawkzoo.nn import RecurrentState

from ..official import packed_positions, small_config


@pytest.fixture(scope="module", params=["hawk", "griffin", "mqa"])
def model(request) -> LanguageModel:
    return LanguageModel(small_config(request.param), key=jax.random.key(0))


@eqx.filter_jit
def logits_of(model, tokens, segment_pos):
    return model(tokens, segment_pos)[0]


def test_packed_documents_equal_separate_runs(model):
    tokens = jax.random.randint(jax.random.key(1), (23,), 0, 64)
    packed = logits_of(model, tokens, packed_positions([7, 16]))
    first = logits_of(model, tokens[:7], jnp.arange(7))
    second = logits_of(model, tokens[7:], jnp.arange(16))
    assert jnp.allclose(packed, jnp.concatenate([first, second]), atol=1e-5)


def test_vmap_equals_a_loop_over_rows(model):
    tokens = jax.random.randint(jax.random.key(2), (3, 10), 0, 64)
    segment_pos = jnp.broadcast_to(jnp.arange(10), (3, 10))
    batched = eqx.filter_jit(jax.vmap(logits_of, in_axes=(None, 0, 0)))(model, tokens, segment_pos)
    for row in range(3):
        assert jnp.allclose(
            batched[row], logits_of(model, tokens[row], segment_pos[row]), atol=1e-5
        )


@pytest.mark.slow  # two gradient programs of Griffin: 12 s
def test_remat_leaves_the_gradients_unchanged():
    model = LanguageModel(small_config("griffin"), key=jax.random.key(0))
    tokens = jnp.arange(12) % 64

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(model):
        logits = model(tokens, jnp.arange(12))[0]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(11), tokens[1:]])

    plain = grad(model)
    with_remat = LanguageModel(model.config.replace(remat=True), key=jax.random.key(5))
    remat = grad(jax.tree.unflatten(jax.tree.structure(with_remat), jax.tree.leaves(model)))
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(remat), strict=True):
        assert jnp.isfinite(a).all()
        assert jnp.allclose(a, b, atol=1e-6)


def test_save_and_load_round_trip(model):
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    buffer.seek(0)
    template = LanguageModel(model.config, key=jax.random.key(9))
    loaded = eqx.tree_deserialise_leaves(buffer, template)
    assert eqx.tree_equal(loaded, model)


TOKENS = jax.random.randint(jax.random.key(3), (24,), 0, 64)
# Three documents; the window is 4, so the long one runs past it.
SEGMENT_POS = packed_positions([5, 12, 7])


@eqx.filter_jit
def in_two_calls(model, split):
    whole, last = model(TOKENS, SEGMENT_POS)
    first, state = model(TOKENS[:split], SEGMENT_POS[:split])
    second, state = model(TOKENS[split:], SEGMENT_POS[split:], state)
    return whole, last, jnp.concatenate([first, second]), state


@pytest.mark.parametrize("split", [3, 21])  # the new tokens outnumber the past, and not
def test_continuing_from_the_state_equals_one_call(model, split):
    whole, last, split_logits, state = in_two_calls(model, split)
    assert jnp.allclose(split_logits, whole, atol=1e-5)
    if model.config.attention_window is not None:  # global attention's state grows
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(last), strict=True):
            assert jnp.allclose(a, b, atol=1e-5)


def test_decoding_token_by_token_equals_one_call():
    model = LanguageModel(small_config("griffin"), key=jax.random.key(0))
    step = eqx.filter_jit(model)
    whole, _ = step(TOKENS, SEGMENT_POS)
    logits, state = step(TOKENS[:2], SEGMENT_POS[:2])
    decoded = [logits]
    for t in range(2, 24):
        logits, state = step(TOKENS[t : t + 1], SEGMENT_POS[t : t + 1], state)
        decoded.append(logits)
    assert jnp.allclose(jnp.concatenate(decoded), whole, atol=1e-5)


def test_bfloat16_parameters_and_bfloat16_compute():
    config = small_config("griffin")
    tokens, segment_pos = jnp.arange(8), jnp.arange(8)
    stored = LanguageModel(config.replace(param_dtype="bfloat16"), key=jax.random.key(0))
    assert {leaf.dtype for leaf in jax.tree.leaves(stored)} == {jnp.dtype(jnp.bfloat16)}
    logits, state = eqx.filter_jit(stored)(tokens, segment_pos)
    assert isinstance(state[0], RecurrentState)
    assert logits.dtype == jnp.bfloat16 and state[0].rg_lru.dtype == jnp.float32
    mixed = LanguageModel(config.replace(compute_dtype="bfloat16"), key=jax.random.key(0))
    assert {leaf.dtype for leaf in jax.tree.leaves(mixed)} == {jnp.dtype(jnp.float32)}
    logits, _ = eqx.filter_jit(mixed)(tokens, segment_pos)
    assert logits.dtype == jnp.bfloat16


def test_the_embedding_scale_is_rounded_to_bfloat16():
    assert embedding_multiplier(2560, jnp.float32) == 50.5
    assert embedding_multiplier(4096, jnp.float32) == 64.0


def test_tokens_outside_the_vocabulary_are_refused_under_jit():
    model = LanguageModel(small_config("hawk"), key=jax.random.key(0))
    with pytest.raises(Exception, match=r"token ids must lie in \[0, vocab_size=64\)"):
        jax.block_until_ready(logits_of(model, jnp.array([1, 64, 2]), jnp.arange(3)))
    with pytest.raises(Exception, match="token ids must lie"):
        jax.block_until_ready(logits_of(model, jnp.array([-1, 0]), jnp.arange(2)))


def test_mismatched_or_batched_inputs_are_refused():
    model = LanguageModel(small_config("hawk"), key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"tokens \(3,\) and segment_pos \(4,\)"):
        model(jnp.arange(3), jnp.arange(4))
    with pytest.raises(ValueError, match=r"batch with jax\.vmap"):
        model(jnp.zeros((2, 3), int), jnp.zeros((2, 3), int))


def test_inputs_of_the_wrong_kind_are_refused_naming_them_also_under_plain_jit():
    hawk = LanguageModel(small_config("hawk"), key=jax.random.key(0))
    griffin = LanguageModel(small_config("griffin"), key=jax.random.key(0))
    tokens = jnp.arange(3)
    cases = [
        (hawk, tokens.astype(float), tokens, None, "tokens must be integers, got dtype float"),
        (hawk, tokens, tokens + 0.5, None, "segment_pos must be integers, got dtype float"),
        (
            hawk,
            tokens,
            tokens,
            hawk.init_state(batch_size=2),
            r"state\[0\].conv has shape \(2, 3, 48\), one row of this model's \(3, 48\): a "
            r"batched state goes with jax.vmap\(model\)",
        ),
        (
            hawk,
            tokens,
            tokens,
            griffin.init_state(8),
            r"state\[2\] is AttentionState, but block 2 takes RecurrentState: a state of "
            "another model",
        ),
        (hawk, tokens, tokens, hawk.init_state()[:1], "state must be a tuple of 3 block states"),
    ]
    for model, tokens_in, positions, state, message in cases:
        with pytest.raises(ValueError, match=message):
            model(tokens_in, positions, state)
        with pytest.raises(ValueError, match=message):
            jax.jit(lambda m, t, p, s: m(t, p, s)[0])(model, tokens_in, positions, state)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"width": 0}, r"ModelConfig.width must be a positive integer, got 0"),
        ({"vocab_size": -3}, r"ModelConfig.vocab_size must be a positive integer"),
        ({"num_heads": 3}, r"ModelConfig.width=32 is not divisible by num_heads=3"),
        ({"num_heads": 16}, r"head width 2, which RoPE needs divisible by 4"),
        ({"num_gate_blocks": 5}, r"lru_width=48 is not divisible by num_gate_blocks=5"),
        (
            {"block_pattern": ("recurrent", "mlp")},
            r"block_pattern must be a non-empty list of recurrent, attention, got \('recurrent'",
        ),
        ({"block_pattern": ()}, r"block_pattern must be a non-empty list of"),
        ({"attention_window": 0}, r"attention_window must be a positive integer or None"),
        ({"logits_soft_cap": -1.0}, r"logits_soft_cap must be a finite number > 0 or None"),
        ({"param_dtype": "int8"}, r"param_dtype must be one of"),
    ],
)
def test_a_config_that_cannot_work_is_refused_naming_the_field(change, message):
    with pytest.raises(ValueError, match=message):
        small_config("griffin", **change)


def test_head_count_is_not_checked_without_attention():
    assert isinstance(small_config("hawk", num_heads=3), ModelConfig)


def test_build_abstract_is_cheap_and_shaped():
    abstract = build("tiny-griffin")
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(abstract))
