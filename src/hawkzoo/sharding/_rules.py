"""Where every array of a model, its optimiser state and its batches lives on a mesh."""

from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from ..backends._sequence_parallel import DATA, MODEL, SEQ
from ..distributed import placed
from ..errors import InputError
from ..model import LanguageModel
from ..nn import (
    RGLRU,
    BlockDiagonalLinear,
    Conv1D,
    GatedMLP,
    Linear,
    LocalAttention,
    RecurrentBlock,
    RMSNorm,
)

COLUMN = {"weight": P(None, MODEL), "bias": P(MODEL)}
"""A linear layer whose outputs are split: each device computes its own channels."""

ROW = {"weight": P(MODEL, None), "bias": P()}
"""A linear layer whose inputs are split: partial sums, added over the model axis."""

WHOLE = {"weight": P(), "bias": P()}
"""A linear layer every device holds whole: multi-query attention's one key/value head."""

LINEAR_ROLES: Mapping[type, Mapping[str, Mapping[str, P]]] = {
    RecurrentBlock: {"linear_x": COLUMN, "linear_y": COLUMN, "linear_out": ROW},
    GatedMLP: {"up": COLUMN, "down": ROW},
    LocalAttention: {"q_proj": COLUMN, "k_proj": WHOLE, "v_proj": WHOLE, "out_proj": ROW},
}
"""The role of each linear layer in the layer that holds it (Megatron-style)."""

ARRAY_SPECS: Mapping[type, Mapping[str, P]] = {
    LanguageModel: {"embedding": P(MODEL)},  # vocabulary-parallel: logits split by token id
    Conv1D: {"weight": P(None, MODEL), "bias": P(MODEL)},  # depthwise: channels never mix
    BlockDiagonalLinear: {"weight": P(MODEL), "bias": P(MODEL)},  # whole gate blocks
    RGLRU: {"decay_param": P(MODEL), "phase_param": P(MODEL)},
    RMSNorm: {"scale": P()},
}
"""The spec of each array of the other layers, by layer type and field."""


def partition_specs(model: eqx.Module) -> Any:
    """`model` with a `PartitionSpec` in place of each array, from the rules above: the
    linear layers Megatron-style (column- then row-parallel, so each block needs one
    all-reduce), the Conv1D, the RG-LRU and its gates' blocks over channels (no
    communication), the single key/value head whole, the embedding over its vocabulary.

    Raises `ValueError` for an array no rule covers.
    """

    def spec(path, leaf) -> P | None:
        if not eqx.is_array(leaf):
            return None
        *parents, owner = _lineage(model, path[:-1])
        field = path[-1].name
        if isinstance(owner, Linear) and parents:
            rules = LINEAR_ROLES.get(type(parents[-1]), {}).get(path[-2].name)
        else:
            rules = ARRAY_SPECS.get(type(owner))
        if rules is None or field not in rules:
            raise InputError(f"no sharding rule for {jax.tree_util.keystr(path)}")
        return rules[field]

    return jax.tree_util.tree_map_with_path(spec, model)


def model_shardings(model: eqx.Module, mesh: Mesh) -> Any:
    """`NamedSharding`s on `mesh` for `model`'s arrays (None elsewhere).

    Raises `ValueError` naming the array (or the heads), the mesh axis and both sizes
    where a dimension does not divide over its axis.
    """
    for layer in jax.tree.leaves(model, is_leaf=lambda node: isinstance(node, LocalAttention)):
        if isinstance(layer, LocalAttention):
            _check_divides("attention's num_heads", layer.num_heads, MODEL, mesh)
    specs = partition_specs(model)
    arrays = jax.tree_util.tree_leaves_with_path(eqx.filter(model, eqx.is_array))
    for (path, leaf), spec in zip(arrays, jax.tree.leaves(specs), strict=True):
        for size, axis in zip(leaf.shape, spec, strict=False):
            _check_divides(jax.tree_util.keystr(path), size, axis, mesh)
    return jax.tree.map(lambda spec: NamedSharding(mesh, _present(spec, mesh)), specs)


def shard_model[M: eqx.Module](model: M, mesh: Mesh) -> M:
    """`model` with its arrays placed on `mesh` as
    [`model_shardings`][hawkzoo.sharding.model_shardings] says (with several processes,
    from the same model in each; see [`placed`][hawkzoo.distributed.placed])."""
    return placed(model, model_shardings(model, mesh))


def optimizer_shardings(
    optimizer: optax.GradientTransformation,
    opt_state: Any,
    parameter_shardings: Any,
    *,
    over_data: bool = False,
) -> Any:
    """`NamedSharding`s for `opt_state`: each array shaped like a parameter (Adam's
    moments) is split as that parameter is, the rest (step counts) is replicated.

    `over_data=True` also splits those arrays over the `data` axis, on their first
    dimension that is otherwise whole and divides (ZeRO-style: each data-parallel
    device keeps its part of the moments).
    """
    mesh = next(iter(jax.tree.leaves(parameter_shardings))).mesh

    def like(state: jax.Array, sharding: NamedSharding) -> NamedSharding:
        if not over_data or DATA not in mesh.shape:
            return sharding
        spec = list(sharding.spec) + [None] * (state.ndim - len(sharding.spec))
        for dim, (size, axis) in enumerate(zip(state.shape, spec, strict=True)):
            if axis is None and size % mesh.shape[DATA] == 0:
                spec[dim] = DATA
                break
        return NamedSharding(mesh, _present(spec, mesh))

    return optax.tree_map_params(
        optimizer,
        like,
        opt_state,
        parameter_shardings,
        transform_non_params=lambda _: NamedSharding(mesh, P()),
    )


def batch_sharding(mesh: Mesh, shape: tuple[int, ...]) -> NamedSharding:
    """The sharding of a training batch, `(accumulate, rows, seq)`: rows over `data`,
    time over `seq`. Raises `ValueError` where they do not divide."""
    _check_divides("the rows of a micro-batch", shape[1], DATA, mesh)
    _check_divides("the sequence length", shape[2], SEQ, mesh)
    return NamedSharding(mesh, _present(P(None, DATA, SEQ), mesh))


def batch_axis() -> str | None:
    """The axis `jax.vmap` should split a batch over (`spmd_axis_name`): `data` when the
    mesh of `jax.set_mesh` has it."""
    return DATA if DATA in jax.sharding.get_abstract_mesh().axis_names else None


def split_rows[T](tree: T) -> T:
    """`tree` with each array's leading axis (its rows) split over the `data` axis of the
    mesh of `jax.set_mesh`, inside `jax.jit`; unchanged without such a mesh."""
    axis = batch_axis()
    if axis is None:
        return tree
    return jax.lax.with_sharding_constraint(tree, P(axis))


def _lineage(root: Any, path) -> list[Any]:
    """The nodes from `root` along `path`, `root` first."""
    nodes = [root]
    for key in path:
        node = nodes[-1]
        nodes.append(getattr(node, key.name) if hasattr(key, "name") else node[key.idx])
    return nodes


def _present(spec: P | list, mesh: Mesh) -> P:
    """`spec` without the axes `mesh` lacks (those dimensions stay whole), written as
    jit writes its outputs' (no trailing None), so a step's outputs match its inputs."""
    axes = [axis if axis in mesh.shape else None for axis in spec]
    while axes and axes[-1] is None:
        axes.pop()
    return P(*axes)


def _check_divides(what: str, size: int, axis: str | None, mesh: Mesh) -> None:
    if axis in mesh.shape and size % mesh.shape[axis]:
        raise InputError(
            f"{what} of size {size} does not divide over mesh axis {axis!r} of size "
            f"{mesh.shape[axis]}"
        )
