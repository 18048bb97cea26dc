"""The official Flax parameter tree: its exact layout, both ways, and trees that do not fit."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from hawkzoo.checkpoints import config_from_flax, from_flax, official_module, to_flax
from hawkzoo.model import LanguageModel, build, preset

from ..official import small_config


def shapes(tree):
    return jax.tree.map(lambda leaf: (tuple(leaf.shape), jnp.dtype(leaf.dtype)), tree)


@pytest.mark.parametrize("pattern", ["hawk", "griffin", "mqa"])
def test_to_flax_gives_the_official_layout(pattern):
    config = small_config(pattern)
    tokens = jnp.zeros((1, 4), jnp.int32)
    with jax.numpy_rank_promotion("allow"):
        official = jax.eval_shape(official_module(config).init, jax.random.key(0), tokens, tokens)
    ours = jax.eval_shape(to_flax, build(config))
    assert shapes(ours) == shapes(official["params"])


@pytest.mark.parametrize("pattern", ["hawk", "griffin", "mqa"])
def test_round_trip_keeps_every_array_and_the_config(pattern):
    model = LanguageModel(small_config(pattern), key=jax.random.key(0))
    params = to_flax(model)
    assert eqx.tree_equal(from_flax(params, model.config), model)
    assert eqx.tree_equal(from_flax({"params": params}, model.config), model)
    inferred = config_from_flax(
        params, attention_window=4, embedding_scale=True, logits_soft_cap=30.0
    )
    assert inferred.block_types == model.config.block_types
    for field in ("vocab_size", "width", "mlp_width", "num_layers", "param_dtype"):
        assert getattr(inferred, field) == getattr(model.config, field)
    if pattern != "mqa":
        assert (inferred.lru_width, inferred.num_gate_blocks) == (48, 2)
    if pattern != "hawk":
        assert inferred.num_heads == 2


@pytest.mark.parametrize("name", ["recurrentgemma-2b", "recurrentgemma-9b", "griffin-400m"])
def test_a_preset_is_recognised_by_its_shapes(name):
    params = jax.eval_shape(to_flax, build(name))
    assert config_from_flax(params) == preset(name)


def test_behaviour_the_shapes_cannot_tell_must_be_given():
    params = to_flax(LanguageModel(small_config("griffin"), key=jax.random.key(0)))
    with pytest.raises(ValueError, match="cannot tell attention_window, embedding_scale, "):
        config_from_flax(params)
    with pytest.raises(ValueError, match="cannot tell logits_soft_cap"):
        config_from_flax(params, attention_window=4, embedding_scale=True)


def test_a_tree_that_does_not_fit_names_the_path_and_both_shapes():
    config = small_config("griffin")
    params = to_flax(LanguageModel(config, key=jax.random.key(0)))
    with pytest.raises(
        ValueError,
        match=r"params\['blocks.0'\]\['recurrent_block'\]\['linear_x'\]\['kernel'\] has shape "
        r"\(32, 48\), the config needs \(32, 64\)",
    ):
        from_flax(params, config.replace(lru_width=64))
    missing = jax.tree.map(lambda x: x, params)
    del missing["blocks.2"]["attention_block"]["proj_k"]
    with pytest.raises(ValueError, match=r"\['proj_k'\]\['kernel'\] is missing"):
        from_flax(missing, config)
    with pytest.raises(ValueError, match=r"params\['blocks.2'\].* has no place in a model"):
        from_flax(params, config.replace(num_layers=2))
    with pytest.raises(ValueError, match="not a Griffin tree"):
        from_flax({"blocks.0": {}})


def test_the_complex_gated_variant_round_trips_with_its_phase():
    model = LanguageModel(small_config("hawk", complex_gates=True), key=jax.random.key(0))
    params = to_flax(model)
    assert params["blocks.0"]["recurrent_block"]["rg_lru"]["a_imag_param"].shape == (24,)
    assert eqx.tree_equal(
        from_flax(params, attention_window=4, embedding_scale=True, logits_soft_cap=30.0), model
    )
