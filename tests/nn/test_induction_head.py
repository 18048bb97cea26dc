"""Two hand-set attention layers solve induction heads: hawkzoo's attention can express the
circuit a Transformer learns for the task (a previous-token head, then a head that matches
on it), through its RoPE, its causal mask and its one shared key and value head."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hawkzoo.data import task as make_task
from hawkzoo.nn import LocalAttention
from hawkzoo.nn._attention import ROPE_MAX_WAVELENGTH

VOCAB, WIDTH = 16, 64
# The residual stream: the token, the token before it (written by the first layer), a
# constant 1, and the answer (written by the second).
TOKEN, PREVIOUS, ONE, ANSWER = slice(0, 16), slice(16, 32), 32, slice(33, 49)
ROTATED = WIDTH // 2  # one head of width 64: RoPE turns dims 0-31 in pairs (k, k + 16)
SHARPNESS = 20.0  # the logit margin of each head's chosen key over the next best


def set_weights(layer: LocalAttention, q, k, v, out) -> LocalAttention:
    weights = lambda m: (m.q_proj.weight, m.k_proj.weight, m.v_proj.weight, m.out_proj.weight)
    return eqx.tree_at(weights, layer, tuple(jnp.asarray(w, jnp.float32) for w in (q, k, v, out)))


def previous_token_head() -> LocalAttention:
    """Every query attends to the key one position back, through RoPE alone: query and key
    are constant, the key turned back by one step, so the score is `Σ_k cos((t - s - 1) ω_k)`,
    largest at `s = t - 1` by 0.686 (checked below)."""
    pairs = ROTATED // 2
    omega = ROPE_MAX_WAVELENGTH ** (-2 * np.arange(pairs) / ROTATED)
    scores = np.cos(np.outer(np.arange(-1, 4096), omega)).sum(1)
    margin = scores[1] - np.delete(scores, 1).max()
    assert margin > 0.68
    q, k, v, out = (np.zeros((WIDTH, WIDTH)) for _ in range(4))
    q[ONE, :pairs] = SHARPNESS * WIDTH**0.5 / margin
    k[ONE, :pairs], k[ONE, pairs:ROTATED] = np.cos(omega), np.sin(omega)
    v[TOKEN, TOKEN] = np.eye(VOCAB)
    out[TOKEN, PREVIOUS] = np.eye(VOCAB)
    layer = LocalAttention(WIDTH, 1, None, key=jax.random.key(0))
    return set_weights(layer, q, k, v, out)


def induction_head() -> LocalAttention:
    """Every query attends to the keys whose previous token is its own token, through the
    half of the head that RoPE leaves alone, and copies their token (never the special one,
    which is never an answer) to the answer."""
    q, k, v, out = (np.zeros((WIDTH, WIDTH)) for _ in range(4))
    q[TOKEN, ROTATED : ROTATED + VOCAB] = SHARPNESS * WIDTH**0.5 * np.eye(VOCAB)
    k[PREVIOUS, ROTATED : ROTATED + VOCAB] = np.eye(VOCAB)
    v[TOKEN, TOKEN] = np.diag(np.arange(VOCAB) > 0)
    out[TOKEN, ANSWER] = np.eye(VOCAB)
    layer = LocalAttention(WIDTH, 1, None, key=jax.random.key(0))
    return set_weights(layer, q, k, v, out)


@jax.jit
def answers(tokens: jax.Array, positions: jax.Array) -> jax.Array:
    first, second = previous_token_head(), induction_head()

    def row(tokens, positions):
        x = jax.nn.one_hot(tokens, WIDTH).at[:, ONE].set(1.0)
        x = x + first(x, positions)[0]
        x = x + second(x, positions)[0]
        return jnp.argmax(x[:, ANSWER], axis=-1)

    return jax.vmap(row)(tokens, positions)


@pytest.mark.parametrize("length", [64, 1024])
def test_two_attention_layers_recall_the_token_after_the_special_token(length):
    batch = make_task("induction-heads").batch(jax.random.key(length), 32, length)
    recalled = answers(batch.tokens, batch.segment_pos)
    assert (recalled[batch.mask] == batch.targets[batch.mask]).all()
