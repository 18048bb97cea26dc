"""The optimiser, one step, gradient accumulation and the loss on packed documents."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hawkzoo.data import Batch, Document, pack
from hawkzoo.model import build
from hawkzoo.training import (
    TrainConfig,
    decay_mask,
    learning_rate_schedule,
    token_losses,
    train_step,
)


@pytest.fixture(scope="module")
def model():
    return build("tiny-griffin", key=jax.random.key(0), attention_window=4)


def test_no_decay_on_embeddings_norms_biases_and_the_recurrence_parameter(model):
    params = eqx.filter(model, eqx.is_inexact_array)
    mask = decay_mask(params, TrainConfig().no_decay)
    recurrent = mask.blocks[0].temporal
    assert mask.embedding is False and mask.final_norm.scale is False
    assert recurrent.rg_lru.decay_param is False and recurrent.rg_lru.input_gate.bias is False
    assert recurrent.rg_lru.input_gate.weight is True and recurrent.linear_x.weight is True
    assert mask.blocks[2].temporal.q_proj.weight is True and mask.blocks[0].mlp.up.weight is True
    decayed = decay_mask(params, ("bias",))
    assert decayed.embedding is True and decayed.blocks[0].mlp.up.bias is False


def test_the_schedule_warms_up_linearly_then_decays_by_a_cosine_to_its_final_fraction():
    config = TrainConfig(steps=100, warmup=10, learning_rate=1.0, final_learning_rate_fraction=0.1)
    schedule = learning_rate_schedule(config)
    assert schedule(0).item() == 0.0 and schedule(5).item() == pytest.approx(0.5)
    assert schedule(10).item() == pytest.approx(1.0)
    assert schedule(55).item() == pytest.approx(0.55, abs=1e-6)  # half way: (1 + 0.1) / 2
    assert schedule(100).item() == pytest.approx(0.1)
    short = TrainConfig(steps=60, learning_rate=1.0)  # the default warm-up: 5% of the run
    assert short.warmup_steps == 3 and learning_rate_schedule(short)(3).item() == 1.0
    assert learning_rate_schedule(short)(60).item() == 0.0  # the default: decayed to 0
    assert TrainConfig(steps=60, warmup=0.5).warmup_steps == 30
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="warmup must be a number of steps"):
            TrainConfig(warmup=bad)


def test_packed_documents_never_see_each_other(model):
    documents = [Document("a", b"first document"), Document("b", b"a second one, longer")]
    packed = pack(documents, 37)  # one row: both documents, all of their targets
    losses = eqx.filter_jit(token_losses)
    nll, _ = losses(model, packed)
    for document, start in zip(documents, (0, len(documents[0].data) + 2), strict=True):
        alone = pack([document], len(document.data) + 1)
        alone_nll, _ = losses(model, alone)
        n = len(document.data) + 1
        np.testing.assert_allclose(
            nll[0, start : start + n], alone_nll[0, :n], rtol=1e-5, atol=1e-5
        )


@pytest.mark.slow  # 17 s of compiles: CI's slow step
def test_accumulated_micro_batches_make_the_same_step_as_one_batch(model):
    tx = optax.sgd(1.0)  # the update is the gradient (Adam would magnify float noise)
    rows = pack([Document(str(i), bytes(range(i, i + 40))) for i in range(4)], 16)
    rows = Batch(*(np.asarray(a[:4]) for a in rows))
    rows = rows._replace(mask=rows.mask & (np.arange(16) % 3 > 0))  # uneven counts per row

    def step(batches):  # the step takes (donates) its model and state: give it copies
        copy = jax.tree.map(jnp.copy, model)
        return train_step(tx, copy, tx.init(eqx.filter(copy, eqx.is_inexact_array)), batches)

    whole = step(Batch(*(a[None] for a in rows)))
    parts = step(Batch(*(a.reshape(2, 2, 16) for a in rows)))
    np.testing.assert_allclose(parts[2]["loss"], whole[2]["loss"], rtol=1e-6)
    for a, b in zip(jax.tree.leaves(parts[0]), jax.tree.leaves(whole[0]), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not eqx.tree_equal(whole[0], model)  # it moved
    assert jnp.isfinite(whole[2]["grad_norm"])
