"""int8 weights: per-channel rounding within half a step, a model that computes as its
dequantized float twin, float state, checkpoints, and the refusals."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

from hawkzoo import checkpoints, quantize
from hawkzoo.errors import InputError
from hawkzoo.model import Int8Embedding, Int8Linear, LanguageModel, is_quantized
from hawkzoo.nn import BlockDiagonalLinear, Linear
from hawkzoo.sampling import generate

from ..official import small_config

WEIGHTS = hnp.arrays(np.float32, (6, 5), elements=st.floats(-4, 4, width=32, allow_subnormal=False))


@given(weight=WEIGHTS)
def test_each_output_channel_rounds_within_half_its_step(weight):
    linear = eqx.tree_at(
        lambda layer: layer.weight,
        Linear(6, 5, key=jax.random.key(0)),
        jnp.asarray(weight),
    )
    quantized = Int8Linear(linear)
    q, scale = np.asarray(quantized.weight), np.asarray(quantized.scale)
    assert q.dtype == np.int8 and np.abs(q).max() <= 127
    np.testing.assert_allclose(scale, np.abs(weight).max(axis=0) / 127, rtol=1e-6)
    assert np.all(np.abs(q * scale - weight) <= scale / 2 * (1 + 1e-5) + 1e-30)


@pytest.fixture(scope="module")
def models() -> tuple[LanguageModel, LanguageModel]:
    model = LanguageModel(small_config("griffin"), key=jax.random.key(0))
    return model, quantize(model, "int8")


def test_the_int8_model_computes_as_its_dequantized_float_twin(models):
    model, quantized = models
    assert is_quantized(quantized) and not is_quantized(model)
    linear_kinds = (Int8Linear, Linear, BlockDiagonalLinear)
    layers = jax.tree.leaves(quantized, is_leaf=lambda leaf: isinstance(leaf, linear_kinds))
    kinds = {type(layer) for layer in layers}  # the gates stay float
    assert Int8Linear in kinds and Linear not in kinds and BlockDiagonalLinear in kinds
    tokens = jnp.arange(40) % 64
    positions = jnp.arange(40)
    twin = _float_twin(quantized)
    logits, state = quantized(tokens, positions)
    expected, expected_state = twin(tokens, positions)
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    dtypes = [leaf.dtype for leaf in jax.tree.leaves(state)]
    assert dtypes == [leaf.dtype for leaf in jax.tree.leaves(expected_state)]
    assert state[0].rg_lru.dtype == jnp.float32  # the state stays float
    greedy = {"max_new_tokens": 6, "temperature": 0.0}  # decoding: the attention ring float
    assert (
        generate(quantized, [[2, 5, 6]], **greedy).rows()
        == generate(twin, [[2, 5, 6]], **greedy).rows()
    )


def _float_twin(quantized: LanguageModel) -> LanguageModel:
    """The float model whose weights are the int8 ones times their scales."""

    def to_float(leaf):
        if not isinstance(leaf, Int8Linear):
            return leaf
        weight = leaf.weight.astype(jnp.float32) * leaf.scale[None, :]
        linear = Linear(*weight.shape, use_bias=leaf.bias is not None, key=jax.random.key(0))
        linear = eqx.tree_at(lambda layer: layer.weight, linear, weight)
        if leaf.bias is None:
            return linear
        return eqx.tree_at(lambda layer: layer.bias, linear, leaf.bias)

    plain = jax.tree.map(to_float, quantized, is_leaf=lambda leaf: isinstance(leaf, Int8Linear))
    embedding = quantized.embedding
    assert isinstance(embedding, Int8Embedding)
    table = embedding.values.astype(jnp.float32) * embedding.scale[:, None]
    return eqx.tree_at(lambda m: m.embedding, plain, table)


def test_an_int8_checkpoint_loads_as_saved_and_nothing_else(models, tmp_path):
    _, quantized = models
    checkpoints.save(tmp_path / "int8", quantized)
    loaded = checkpoints.load(tmp_path / "int8")
    saved = jax.tree.leaves(eqx.filter(quantized, eqx.is_array))
    again = jax.tree.leaves(eqx.filter(loaded, eqx.is_array))
    assert len(saved) == len(again) > 10
    assert all(
        a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(saved, again, strict=True)
    )
    with pytest.raises(InputError, match=r"holds an int8 model .* without a config"):
        checkpoints.load(tmp_path / "int8", quantized.config)
    with pytest.raises(InputError, match=r"an int8 model .* has no float weights"):
        checkpoints.to_flax(quantized)
    with pytest.raises(InputError, match="already quantized"):
        quantize(quantized)
    with pytest.raises(InputError, match="the modes are int8"):
        quantize(models[0], "int4")
