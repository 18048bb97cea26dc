"""Run under `hawkzoo launch`: the loss and gradients of tiny Hawk, Griffin and MQA on
data × model and seq × data meshes over every process's devices, each process feeding its
share of the batch; process 0 saves them to `OUT.npz`, for the first argument OUT. Each
model, split over the first mesh, is saved with `checkpoints.save` by every process to
`OUT-PRESET`."""

import sys

import equinox as eqx
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from hawkzoo import checkpoints, distributed
from hawkzoo.data import Batch
from hawkzoo.model import build
from hawkzoo.sharding import batch_sharding, make_mesh, shard_model
from hawkzoo.training._step import token_losses

MODELS = {  # two blocks each (Griffin's a recurrent and an attention block): fast compiles
    "tiny-hawk": {"num_layers": 2},
    "tiny-griffin": {"num_layers": 2, "block_pattern": ("recurrent", "attention")},
    "tiny-mqa": {"num_layers": 2},
}
MESHES = ("data=2,model=2", "seq=2,data=2")  # rows, then time, split between processes
ROWS, LENGTH = 4, 16


def mean_loss(model, batch: Batch):
    nll, _ = token_losses(model, batch)
    return (nll * batch.mask).sum() / batch.mask.sum()


def main(out: str) -> None:
    distributed.initialize()
    tokens = np.random.default_rng(0).integers(3, 512, (ROWS, LENGTH + 1), dtype=np.int32)
    positions = np.broadcast_to(np.arange(LENGTH, dtype=np.int32), (ROWS, LENGTH))
    arrays = Batch(tokens[:, :-1], positions, tokens[:, 1:], np.ones((ROWS, LENGTH), bool))
    results = {}
    for preset, changes in MODELS.items():
        for spec in MESHES:
            mesh = make_mesh(spec)
            rows_and_time = batch_sharding(mesh, (1, ROWS, LENGTH)).spec[1:]
            sharding = NamedSharding(mesh, PartitionSpec(*rows_and_time))
            block = distributed.process_block(sharding, (ROWS, LENGTH))  # this process's share
            shares = Batch(*(array[block] for array in arrays))
            batch = distributed.from_process_blocks(shares, sharding, (ROWS, LENGTH))
            model = shard_model(build(preset, key=jax.random.key(0), **changes), mesh)
            with jax.set_mesh(mesh):
                loss, grads = eqx.filter_jit(eqx.filter_value_and_grad(mean_loss))(model, batch)
            leaves = multihost_utils.process_allgather(jax.tree.leaves((loss, grads)), tiled=True)
            results |= {f"{preset} {spec} {i}": leaf for i, leaf in enumerate(leaves)}
            if spec == MESHES[0]:
                checkpoints.save(f"{out}-{preset}", model)
    if distributed.is_main_process():
        np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1])
