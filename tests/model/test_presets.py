"""Presets: found by name, built abstractly at any size, counted as their cards say."""

import math
import pathlib

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from recurrentgemma import common
from recurrentgemma.jax import griffin

from hawkzoo.model import build, num_parameters, preset, presets

MODELS = pathlib.Path(__file__).parents[2] / "models"
FAMILIES = ("hawk", "griffin", "mqa", "recurrentgemma", "small", "tiny")
PAPER_SIZES = ("100m", "200m", "400m", "1.3b", "3b", "7b", "14b")


def test_every_family_and_size_is_listed():
    names = presets()
    for family in ("hawk", "griffin", "mqa"):
        assert [n for n in names if n.startswith(f"{family}-")] == [
            f"{family}-{size}" for size in PAPER_SIZES
        ]
    assert {"recurrentgemma-2b", "recurrentgemma-9b", "tiny-hawk", "tiny-griffin"} <= set(names)


@pytest.mark.parametrize("name", presets())
def test_a_preset_builds_abstractly_and_its_card_gives_its_counts(name):
    config = preset(name)
    model = build(name)
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in jax.tree.leaves(model))
    count = num_parameters(model)
    card = (MODELS / name.split("-")[0] / "README.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith(f"| `{name}` |"))
    assert f"| {count:,} | {count - config.vocab_size * config.width:,} |" in row


@pytest.mark.parametrize(
    ("name", "official"),
    [
        ("recurrentgemma-2b", common.Preset.RECURRENT_GEMMA_2B_V1),
        ("recurrentgemma-9b", common.Preset.RECURRENT_GEMMA_9B_V1),
    ],
)
def test_recurrentgemma_counts_equal_the_official_models(name, official):
    config = common.GriffinConfig.from_preset(official, vocab_size=256_000)
    model = griffin.Griffin(config, gradient_checkpointing=False)
    tokens = jnp.zeros((1, 1), jnp.int32)
    with jax.numpy_rank_promotion("allow"):
        shapes = jax.eval_shape(model.init, jax.random.key(0), tokens, tokens)
    expected = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(shapes))
    assert num_parameters(build(name)) == expected
    assert (
        round(expected / 1e9, 3) == {"recurrentgemma-2b": 2.683, "recurrentgemma-9b": 8.580}[name]
    )


def test_a_preset_takes_changes_and_checks_them():
    assert preset("tiny-griffin", remat=True).remat
    assert build("tiny-hawk", param_dtype="bfloat16").embedding.dtype == jnp.bfloat16
    with pytest.raises(ValueError, match=r"ModelConfig\.width must be a positive integer"):
        preset("tiny-hawk", width=-1)


def test_an_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown preset 'griffin-5b'; presets: griffin-100m"):
        preset("griffin-5b")


def test_a_tiny_preset_builds_and_runs():
    model = build("tiny-griffin", key=jax.random.key(0))
    logits, _ = eqx.filter_jit(model)(jnp.arange(5), jnp.arange(5))
    assert logits.shape == (5, 512) and jnp.isfinite(logits).all()
