"""Scaling out on JAX meshes: data, tensor (model) and sequence parallelism."""

from ..backends import sequence_parallel_scan as sequence_parallel_scan
from ..backends._sequence_parallel import AXES as AXES, DATA as DATA, MODEL as MODEL, SEQ as SEQ
from ._mesh import make_mesh as make_mesh, parse_axes as parse_axes
from ._rules import (
    batch_axis as batch_axis,
    batch_sharding as batch_sharding,
    model_shardings as model_shardings,
    optimizer_shardings as optimizer_shardings,
    partition_specs as partition_specs,
    shard_model as shard_model,
    split_rows as split_rows,
)
