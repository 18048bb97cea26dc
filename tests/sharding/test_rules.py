"""The sharding rules: specs derived from the layers, meshes, and bad input named."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from hawkzoo import sharding
from hawkzoo.model import build
from hawkzoo.nn import Linear
from hawkzoo.training import TrainConfig, optimizer

pytestmark = pytest.mark.skipif(
    jax.device_count() < 8, reason="needs 8 devices (the test suite simulates 8 on CPU)"
)


@pytest.mark.parametrize("preset", ["tiny-hawk", "tiny-griffin", "tiny-mqa"])
def test_every_array_has_a_spec_within_its_rank(preset):
    model = build(preset, key=jax.random.key(0))
    specs = sharding.partition_specs(model)
    arrays = jax.tree.leaves(model)
    assert len(jax.tree.leaves(specs)) == len(arrays)
    for array, spec in zip(arrays, jax.tree.leaves(specs), strict=True):
        assert len(spec) <= array.ndim


def test_megatron_roles_and_the_single_key_value_head():
    specs = sharding.partition_specs(build("tiny-griffin", key=jax.random.key(0)))
    recurrent, attention = specs.blocks[0], specs.blocks[2]
    assert recurrent.temporal.linear_x.weight == P(None, "model")
    assert recurrent.temporal.linear_out.weight == P("model", None)
    assert recurrent.temporal.linear_out.bias == P()
    assert recurrent.temporal.rg_lru.input_gate.weight == P("model")
    assert recurrent.temporal.conv.weight == P(None, "model")
    assert attention.temporal.q_proj.weight == P(None, "model")
    assert attention.temporal.k_proj.weight == P() and attention.temporal.v_proj.weight == P()
    assert attention.mlp.up.weight == P(None, "model") and attention.mlp.down.bias == P()
    assert specs.embedding == P("model")


def test_an_array_without_a_rule_is_refused():
    class Custom(eqx.Module):
        inner: Linear

    with pytest.raises(ValueError, match=r"no sharding rule for \.inner\.weight"):
        sharding.partition_specs(Custom(Linear(2, 2, key=jax.random.key(0))))


def test_arrays_are_placed_and_axes_the_mesh_lacks_stay_whole():
    model = build("tiny-hawk", key=jax.random.key(0))
    mesh = sharding.make_mesh("data=4,model=2")
    placed = sharding.shard_model(model, mesh)
    gate = placed.blocks[0].temporal.rg_lru.input_gate.weight  # pyright: ignore[reportAttributeAccessIssue]
    assert gate.sharding == NamedSharding(mesh, P("model"))
    assert gate.addressable_shards[0].data.shape[0] == 2
    alone = sharding.shard_model(model, sharding.make_mesh("data=8"))
    assert all(leaf.sharding.is_fully_replicated for leaf in jax.tree.leaves(alone))


@pytest.mark.parametrize(
    ("preset", "axes", "message"),
    [
        ("tiny-mqa", "model=4,data=2", "attention's num_heads of size 2 does not divide over "
         "mesh axis 'model' of size 4"),
        ("tiny-hawk", "model=8", ".blocks[0].temporal.rg_lru.input_gate.weight of size 4 does "
         "not divide over mesh axis 'model' of size 8"),
    ],
)  # fmt: skip
def test_a_dimension_that_does_not_divide_is_named(preset, axes, message):
    with pytest.raises(ValueError) as error:
        sharding.model_shardings(build(preset, key=jax.random.key(0)), sharding.make_mesh(axes))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("axes", "message"),
    [
        ("data=2,model=2", "the mesh data=2,model=2 has 4 devices, but there are 8 cpu devices"),
        ("data=4,tensor=2", "unknown mesh axis tensor; the axes are data, model, seq"),
        ("data:8", "a mesh is axis=size pairs like data=2,model=2,seq=2; got 'data:8'"),
        ("data=0,seq=8", "mesh axis 'data' must have a positive size, got 0"),
        ("seq=4,seq=2", "mesh axis 'seq' is given twice"),
    ],
)
def test_a_bad_mesh_is_named(axes, message):
    with pytest.raises(ValueError) as error:
        sharding.make_mesh(axes)
    assert message in str(error.value)


def test_a_batch_that_does_not_divide_is_named():
    mesh = sharding.make_mesh("data=2,seq=4")
    assert sharding.batch_sharding(mesh, (1, 4, 32)).spec == P(None, "data", "seq")
    with pytest.raises(ValueError, match="rows of a micro-batch of size 3 does not divide"):
        sharding.batch_sharding(mesh, (1, 3, 32))
    with pytest.raises(ValueError, match="sequence length of size 30 does not divide over mesh "
                       "axis 'seq' of size 4"):  # fmt: skip
        sharding.batch_sharding(mesh, (1, 4, 30))


@pytest.mark.parametrize("over_data", [False, True])
def test_optimizer_state_is_placed_like_the_parameters_or_over_data(over_data):
    model = build("tiny-griffin", key=jax.random.key(0))
    params = eqx.filter(model, eqx.is_inexact_array)
    tx = optimizer(TrainConfig(steps=10))
    opt_state = tx.init(params)
    mesh = sharding.make_mesh("data=4,model=2")
    placement = sharding.model_shardings(model, mesh)
    state = sharding.optimizer_shardings(tx, opt_state, placement, over_data=over_data)
    adam = state[1][0]
    assert adam.count.spec == P()
    for moment in (adam.mu, adam.nu):
        gate = moment.blocks[0].temporal.rg_lru.input_gate.weight
        norm = moment.blocks[0].temporal_norm.scale
        if over_data:  # the first dimension that is whole and divides gets the data axis
            assert gate.spec == P("model", "data") and norm.spec == P("data")
        else:
            assert gate.spec == P("model") and norm.spec == P()
    placed = jax.device_put(opt_state, state)
    for got, expected in zip(jax.tree.leaves(placed), jax.tree.leaves(opt_state), strict=True):
        assert jnp.array_equal(got, expected)


@pytest.mark.parametrize(
    ("block", "collectives"),
    [
        ("recurrent", {"all-reduce": 1}),  # the Conv1D and the RG-LRU need no communication
        ("attention", {"all-reduce": 1}),  # the key/value head is whole on every device
        ("mlp", {"all-reduce": 1, "collective-permute": 2}),  # `up`'s halves (documented)
    ],
)
def test_each_block_communicates_as_megatron_says(block, collectives):
    model = build("tiny-griffin", key=jax.random.key(0))
    mesh = sharding.make_mesh("data=4,model=2")
    layer = {
        "recurrent": model.blocks[0].temporal,
        "attention": model.blocks[2].temporal,
        "mlp": model.blocks[0].mlp,
    }[block]
    x = jax.device_put(jnp.ones((4, 16, 64)), NamedSharding(mesh, P("data")))
    positions = jnp.tile(jnp.arange(16), (4, 1))

    def call(layer, x):
        if block == "mlp":
            return jax.vmap(layer)(x)
        return jax.vmap(layer)(x, positions)[0]

    with jax.set_mesh(mesh):
        program = jax.jit(call).lower(sharding.shard_model(layer, mesh), x).compile().as_text()
    assert program is not None
    kinds = ("all-reduce", "collective-permute", "all-gather", "all-to-all", "reduce-scatter")
    counts = {kind: program.count(f"{kind}(") + program.count(f"{kind}-start(") for kind in kinds}
    assert {kind: n for kind, n in counts.items() if n} == collectives
