"""A sharded step equals the single-device step: Hawk, Griffin and MQA on data, model,
sequence and mixed meshes of 8 simulated devices; placements and checkpoints too."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from hawkzoo import sharding
from hawkzoo.checkpoints import load, save
from hawkzoo.data import Batch
from hawkzoo.model import build
from hawkzoo.sampling import generate
from hawkzoo.training import TrainConfig, optimizer, token_losses, train_step

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs 8 devices (the test suite simulates 8 on CPU)"
)

ROWS, STEPS = 8, 64
MESHES = ["data=8", "model=2", "seq=8", "data=2,model=2,seq=2"]  # model=2: the tiny heads
QUICK = {  # the recurrence split over time, and every axis at once; the rest in the slow step
    ("tiny-hawk", "seq=8"),
    ("tiny-griffin", "data=2,model=2,seq=2"),
}
CASES = [
    pytest.param(preset, axes, marks=[] if (preset, axes) in QUICK else [pytest.mark.slow])
    for preset in ("tiny-hawk", "tiny-griffin", "tiny-mqa")
    for axes in MESHES
]


def _batch() -> Batch:
    tokens = jax.random.randint(jax.random.key(1), (ROWS, STEPS), 0, 512)
    segment_pos = jnp.tile(jnp.arange(STEPS), (ROWS, 1))
    segment_pos = segment_pos.at[3, 20:].set(jnp.arange(STEPS - 20))  # a packed second document
    mask = jnp.ones((ROWS, STEPS), bool).at[5, :10].set(False)
    return Batch(tokens, segment_pos, jnp.roll(tokens, -1, axis=1), mask)


@eqx.filter_jit
def _loss_and_grads(model, batch: Batch):
    def loss(model):
        nll, _ = token_losses(model, batch)
        return jnp.sum(nll * batch.mask) / jnp.sum(batch.mask)

    return eqx.filter_value_and_grad(loss)(model)


def _on(mesh, batch: Batch) -> Batch:
    spec = sharding.batch_sharding(mesh, (1, *batch.tokens.shape)).spec  # (accumulate, ...)
    return jax.device_put(batch, NamedSharding(mesh, P(*spec[1:])))


@pytest.mark.parametrize(("preset", "axes"), CASES)
def test_loss_and_gradients_equal_one_device(preset, axes):
    model, batch = build(preset, key=jax.random.key(0)), _batch()
    loss, grads = _loss_and_grads(model, batch)
    sizes = sharding.parse_axes(axes)
    mesh = sharding.make_mesh(sizes, jax.devices()[: math.prod(sizes.values())])
    with jax.set_mesh(mesh):
        sharded_loss, sharded_grads = _loss_and_grads(
            sharding.shard_model(model, mesh), _on(mesh, batch)
        )
    np.testing.assert_allclose(sharded_loss, loss, rtol=1e-6)
    expected_leaves = jax.tree_util.tree_leaves_with_path(grads)
    for (path, expected), got in zip(expected_leaves, jax.tree.leaves(sharded_grads), strict=True):
        scale = float(jnp.max(jnp.abs(expected)))
        np.testing.assert_allclose(
            got, expected, atol=2e-5 * scale, err_msg=jax.tree_util.keystr(path)
        )


def _uses_shard_map(model, batch) -> bool:
    return "shard_map" in str(jax.make_jaxpr(lambda m, b: token_losses(m, b)[0])(model, batch))


def test_the_recurrence_splits_time_only_under_a_seq_axis():
    model, batch = build("tiny-hawk", key=jax.random.key(0)), _batch()
    assert not _uses_shard_map(model, batch)
    with jax.set_mesh(sharding.make_mesh("data=8")):
        assert not _uses_shard_map(model, batch)
    with jax.set_mesh(sharding.make_mesh("data=2,seq=4")):
        assert _uses_shard_map(model, batch)


@pytest.mark.slow  # ten sharded steps compiled and checked: 22 s
def test_steps_keep_their_placement_and_compile_once():
    model = build("tiny-griffin", key=jax.random.key(0))
    tx = optimizer(TrainConfig(steps=10))
    mesh = sharding.make_mesh("data=2,model=2,seq=2")
    placement = sharding.model_shardings(model, mesh)
    state_placement = sharding.optimizer_shardings(
        tx, tx.init(eqx.filter(model, eqx.is_inexact_array)), placement, over_data=True
    )
    model = jax.device_put(model, placement)
    opt_state = jax.device_put(tx.init(eqx.filter(model, eqx.is_inexact_array)), state_placement)
    compiled = train_step._cached._cache_size()  # pyright: ignore[reportFunctionMemberAccess]
    with jax.set_mesh(mesh):
        for _ in range(2):
            batches = jax.tree.map(lambda a: a[None], _on(mesh, _batch()))
            model, opt_state, _ = train_step(
                tx, model, opt_state, batches, placement=(placement, state_placement)
            )
    for tree, expected in ((model, placement), (opt_state, state_placement)):
        for array, sharding_ in zip(jax.tree.leaves(tree), jax.tree.leaves(expected), strict=True):
            assert array.sharding == sharding_
    assert train_step._cached._cache_size() == compiled + 1  # pyright: ignore[reportFunctionMemberAccess]


def test_a_checkpoint_saved_on_one_mesh_loads_on_another(tmp_path):
    model = build("tiny-griffin", key=jax.random.key(0))
    save(tmp_path / "checkpoint", sharding.shard_model(model, sharding.make_mesh("data=4,model=2")))
    loaded = sharding.shard_model(load(tmp_path / "checkpoint"), sharding.make_mesh("seq=8"))
    for expected, got in zip(jax.tree.leaves(model), jax.tree.leaves(loaded), strict=True):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.slow  # the sampler compiled twice, sharded and not: 14 s
def test_sampling_on_a_data_and_model_mesh_equals_one_device():
    model = build("tiny-griffin", key=jax.random.key(0))
    prompts = [[5, 6, 7], [9], [3, 4], [8, 8, 8, 8], [1]]  # rows that do not divide over data
    settings = {"max_new_tokens": 6, "key": jax.random.key(2), "temperature": 0.7}
    expected = generate(model, prompts, **settings)
    mesh = sharding.make_mesh("data=4,model=2")
    with jax.set_mesh(mesh):
        got = generate(sharding.shard_model(model, mesh), prompts, **settings)
    assert got.rows() == expected.rows()
