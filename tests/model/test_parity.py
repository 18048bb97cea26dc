"""hawkzoo against the official `recurrentgemma` model, given the same weights."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from hawkzoo import backends
from hawkzoo.checkpoints import from_flax, to_flax

from ..backends.problems import SLOW_INTERPRETERS, is_native, runnable
from ..official import official_forward, official_params, packed_positions, small_config

# Every backend under Hawk; under Griffin all but the kernels, which run slowly in the
# interpreter here (the GPU kernel's slowest: it joins Hawk's with SLOW_INTERPRETERS);
# the all-attention pattern runs no scan, so one backend covers it. `auto` runs where it
# picks a kernel; on a CPU it is `sequential`, already a case. `associative` (Griffin's
# takes 17 s to compile), `chunked` (20-30 s a pattern, with the oracle) and `pallas_tpu`
# (35 s in its interpreter) run in CI's slow step; tests/backends checks all three against
# the scan's oracle in the quick suite.
CASES = [
    pytest.param(
        pattern,
        runnable(name),
        id=f"{pattern}-{name}",
        marks=[pytest.mark.slow] if name in ("associative", "chunked", "pallas_tpu") else [],
    )
    for pattern in ("hawk", "griffin")
    for name in backends.registered()
    if (pattern, name) != ("hawk", "associative")  # Griffin covers it; 35 s to compile
    and (name != "auto" or jax.default_backend() != "cpu")
    and (
        not name.startswith("pallas")
        or (pattern == "hawk" and (name == "pallas_tpu" or SLOW_INTERPRETERS or is_native(name)))
    )
] + [pytest.param("mqa", "sequential", id="mqa")]

TOKENS = jax.random.randint(jax.random.key(1), (2, 24), 0, 64)
# Row 0 packs three documents, one longer than the window; row 1 is one document.
SEGMENT_POS = jnp.stack([packed_positions([9, 2, 13]), jnp.arange(24)])
COTANGENT = jax.random.normal(jax.random.key(2), (2, 24, 64))


def loss(logits):
    return jnp.sum(logits.astype(jnp.float32) * COTANGENT)


@functools.cache
def oracle(pattern: str):
    """The official model's weights, logits, gradients and cache: computed once a pattern."""
    config = small_config(pattern)
    params = official_params(config, jax.random.key(0, impl="rbg"), TOKENS, SEGMENT_POS)

    def objective(params):
        logits, cache = official_forward(config, params, TOKENS, SEGMENT_POS)
        return loss(logits), (logits, cache)

    value_and_grad = jax.jit(jax.value_and_grad(objective, has_aux=True))
    (_, (logits, cache)), grads = value_and_grad(params)
    return config, params, logits, grads, cache


@eqx.filter_jit
def batched(model, tokens, segment_pos):
    return jax.vmap(model)(tokens, segment_pos)


@eqx.filter_jit
def hawkzoo_value_and_grad(model):
    def objective(model):
        logits, state = jax.vmap(model)(TOKENS, SEGMENT_POS)
        return loss(logits), (logits, state)

    return eqx.filter_value_and_grad(objective, has_aux=True)(model)


@pytest.mark.parametrize(("pattern", "backend"), CASES)
def test_float32_logits_and_gradients_match(pattern, backend):
    config, params, expected, expected_grads, _ = oracle(pattern)
    with backends.use(backend):
        (_, (logits, _)), grads = hawkzoo_value_and_grad(from_flax(params, config))
    scale = jnp.abs(expected).max()
    assert jnp.abs(logits - expected).max() <= 1e-5 * scale
    for path, ours, theirs in zip(
        *_paths_and_leaves(to_flax(grads)), jax.tree.leaves(expected_grads), strict=True
    ):
        bound = 1e-4 * jnp.abs(theirs).max()
        assert jnp.abs(ours - theirs).max() <= bound, path


def _paths_and_leaves(tree):
    flat = jax.tree.leaves_with_path(tree)
    return [jax.tree_util.keystr(p) for p, _ in flat], [leaf for _, leaf in flat]


@pytest.mark.parametrize("pattern", ["hawk", "griffin", "mqa"])
def test_bfloat16_is_as_close_to_float32_as_the_official_bfloat16(pattern):
    config, params, truth, _, _ = oracle(pattern)
    bf16_params = jax.tree.map(lambda p: p.astype(jnp.bfloat16), params)
    theirs, _ = official_forward(config, bf16_params, TOKENS, SEGMENT_POS, jnp.bfloat16)
    model = from_flax(bf16_params, config)
    assert model.config.param_dtype == "bfloat16"
    ours, _ = batched(model, TOKENS, SEGMENT_POS)
    assert ours.dtype == jnp.bfloat16

    def error(logits):
        return jnp.abs(logits.astype(jnp.float32) - truth).max()

    assert error(ours) <= 1.5 * error(theirs)
    # Top-1 agreement on the tokens bfloat16 can decide: where float32's top-2 margin is
    # below the official bfloat16 error, either answer is a coin flip.
    top2 = jnp.sort(truth, axis=-1)[..., -2:]
    decided = top2[..., 1] - top2[..., 0] > error(theirs)
    assert decided.mean() > 0.5

    def top1(logits):
        return jnp.sum((jnp.argmax(logits, -1) == jnp.argmax(truth, -1)) & decided)

    assert top1(ours) >= top1(theirs)


@pytest.mark.parametrize("pattern", ["hawk", "griffin"])
def test_state_after_a_prompt_matches_the_official_cache(pattern):
    config, params, _, _, cache = oracle(pattern)
    _, state = batched(from_flax(params, config), TOKENS, SEGMENT_POS)
    for (name, theirs), ours in zip(cache.items(), state, strict=True):
        if hasattr(theirs, "rg_lru_state"):
            pairs = [(ours.conv, theirs.conv1d_state), (ours.rg_lru, theirs.rg_lru_state)]
            assert ours.rg_lru.dtype == jnp.float32
        else:
            pairs = [
                (ours.keys, theirs.keys[:, :, 0]),
                (ours.values, theirs.values[:, :, 0]),
                (ours.num_tokens, theirs.num_tokens),
            ]
        for mine, official in pairs:
            assert mine.shape == official.shape, name
            assert jnp.abs(mine - official).max() <= 1e-5 * (1 + jnp.abs(official).max()), name
