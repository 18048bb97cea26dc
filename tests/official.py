"""The official `recurrentgemma` package as the tests' oracle: small models, random weights."""

import functools
from typing import Any

import jax
import jax.numpy as jnp

from hawkzoo.checkpoints import official_module
from hawkzoo.model import ModelConfig

PATTERNS = {
    "hawk": ("recurrent",),
    "griffin": ("recurrent", "recurrent", "attention"),
    "mqa": ("attention",),
}


def small_config(pattern: str, **changes) -> ModelConfig:
    """A small model in which every feature is on: packed documents cross the window, the
    LRU is wider than the model, the soft-cap and the embedding scale apply."""
    fields: dict[str, Any] = dict(
        vocab_size=64,
        width=32,
        mlp_width=96,
        lru_width=48,
        num_heads=2,
        num_gate_blocks=2,  # the official code ties gate blocks to heads
        num_layers=3,
        block_pattern=PATTERNS[pattern],
        attention_window=4,
        embedding_scale=True,
        logits_soft_cap=30.0,
    )
    return ModelConfig(**(fields | changes))


def official_params(config: ModelConfig, key, tokens, segment_pos) -> dict:
    """Official initial weights, perturbed so that no parameter keeps its special init
    (norm scales and biases start at zero). One program: run eagerly, the official scan
    and a sampler compiled for each shape take 30 s; `key` is best an "rbg" key, whose
    samplers compile in a fraction of threefry's time."""

    @jax.jit
    def perturbed(key):
        params = official_module(config).init(key, tokens, segment_pos)["params"]
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.fold_in(key, 1), len(leaves))
        noise = [0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys, strict=True)]
        return jax.tree.unflatten(tree, [p + n for p, n in zip(leaves, noise, strict=True)])

    with jax.numpy_rank_promotion("allow"):
        return perturbed(key)


@functools.cache
def _apply(config: ModelConfig, dtype):
    model = official_module(config, param_dtype=dtype)

    def apply(params, tokens, segment_pos):
        with jax.numpy_rank_promotion("allow"):
            return model.apply({"params": params}, tokens, segment_pos)

    return jax.jit(apply)


def official_forward(config: ModelConfig, params, tokens, segment_pos, dtype=jnp.float32):
    """Batched logits and cache of the official model."""
    return _apply(config, dtype)(params, tokens, segment_pos)


def packed_positions(lengths: list[int]) -> jax.Array:
    """Segment positions of documents of these lengths packed into one row."""
    return jnp.concatenate([jnp.arange(n) for n in lengths])
