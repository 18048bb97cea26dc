"""Local attention: the blocked form equals the plain masked form; who sees whom."""

import functools

import jax
import jax.numpy as jnp
import pytest
from hypothesis import given, strategies as st

from hawkzoo.nn import LocalAttention, apply_rope, attend, attention_mask, local_attention

# (steps, window): the blocked path with a partial last block, exact blocks, window 1.
SHAPES = [(33, 4), (64, 8), (40, 1), (9, 4), (50, None)]


def documents_from(starts: list[int], steps: int) -> jax.Array:
    segment_pos = jnp.arange(steps)
    for start in sorted(starts):
        segment_pos = segment_pos.at[start:].set(jnp.arange(steps - start))
    return jnp.cumsum(segment_pos == 0)


@pytest.mark.parametrize(("steps", "window"), SHAPES)
@given(seed=st.integers(0, 2**16), starts=st.lists(st.integers(1, 63), max_size=4))
def test_blocked_attention_equals_the_plain_masked_form(steps, window, seed, starts):
    q, k, v = (
        jax.random.normal(key, shape)
        for key, shape in zip(
            jax.random.split(jax.random.key(seed), 3),
            [(steps, 2, 8), (steps, 8), (steps, 8)],
            strict=True,
        )
    )
    documents = documents_from([s for s in starts if s < steps], steps)
    blocked, plain = both_forms(q, k, v, documents, window)
    assert jnp.allclose(blocked, plain, atol=1e-6)


@functools.partial(jax.jit, static_argnums=4)
def both_forms(q, k, v, documents, window):
    positions = jnp.arange(q.shape[0])
    plain = attend(q, k, v, attention_mask(positions, positions, documents, documents, window))
    return local_attention(q, k, v, documents, window), plain


@pytest.mark.parametrize("window", [3, None])
def test_each_token_sees_itself_and_window_tokens_before_it_in_its_document(window):
    steps, width = 12, 16
    layer = LocalAttention(width, 2, window, key=jax.random.key(0))
    segment_pos = jnp.concatenate([jnp.arange(7), jnp.arange(5)])
    x = jax.random.normal(jax.random.key(1), (steps, width))
    jacobian = jax.jacfwd(lambda x: layer(x, segment_pos)[0])(x)  # (t, d, s, e)
    sees = jnp.abs(jacobian).sum(axis=(1, 3)) > 0
    t, s = jnp.arange(steps)[:, None], jnp.arange(steps)[None, :]
    document = jnp.cumsum(segment_pos == 0)
    expected = (s <= t) & (document[:, None] == document[None, :])
    if window is not None:
        expected &= t - s <= window
    assert (sees == expected).all()


def test_rope_rotates_half_of_each_head_by_position():
    x = jax.random.normal(jax.random.key(0), (5, 2, 16))
    rotated = apply_rope(x, jnp.arange(5))
    assert jnp.array_equal(rotated[..., 8:], x[..., 8:])
    assert jnp.array_equal(rotated[0], x[0])
    assert jnp.allclose(jnp.linalg.norm(rotated, axis=-1), jnp.linalg.norm(x, axis=-1), atol=1e-5)
    # Relative: dot products depend on the distance between positions only.
    q, k = x[:1, :1], x[1:2, :1]
    near = jnp.sum(apply_rope(q, jnp.array([3])) * apply_rope(k, jnp.array([1])))
    far = jnp.sum(apply_rope(q, jnp.array([9])) * apply_rope(k, jnp.array([7])))
    assert float(near) == pytest.approx(float(far), abs=1e-5)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="width=30 is not divisible by num_heads=4"):
        LocalAttention(30, 4, 8, key=jax.random.key(0))
    with pytest.raises(ValueError, match="divisible by 4 for RoPE"):
        LocalAttention(12, 2, 8, key=jax.random.key(0))
    with pytest.raises(ValueError, match="window must be positive"):
        LocalAttention(16, 2, 0, key=jax.random.key(0))
