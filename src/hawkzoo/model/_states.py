"""Decoding states as values: rows of a batched state selected, states joined, one state
broadcast to a batch. A batched state is the model's state with a leading batch axis on
every array, as `init_state(batch_size=...)` and `jax.vmap(model)` make it."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Int

from ..errors import InputError

if TYPE_CHECKING:
    from ._model import History, State


def batch_size(state: "State") -> int:
    """The rows of a batched state."""
    return int(jax.tree.leaves(state)[0].shape[0])


def select_rows(state: "State", rows: int | Sequence[int] | ArrayLike) -> "State":
    """The batched state of `rows` (indices into `state`'s batch, in that order, repeats
    allowed): a fork of each. One index gives a batch of one."""
    size, rows = batch_size(state), np.atleast_1d(np.asarray(rows))
    if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
        raise InputError(f"rows must be row indices, got {rows!r}")
    if rows.size and not (-size <= rows.min() and rows.max() < size):
        raise InputError(f"rows {rows.tolist()} fall outside a batch of {size}")
    return jax.tree.map(lambda leaf: leaf[rows], state)


def concatenate_states(states: Sequence["State"]) -> "State":
    """One batched state of the rows of `states`, in order; they must come from one model
    (and, for global attention, one maximum length)."""
    if not states:
        raise InputError("concatenate_states needs at least one state")
    structure = jax.tree.structure(states[0])
    shapes = [[leaf.shape[1:] for leaf in jax.tree.leaves(state)] for state in states]
    if any(jax.tree.structure(s) != structure for s in states) or any(
        s != shapes[0] for s in shapes
    ):
        raise InputError("states to concatenate must come from one model and one max_length")
    return jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *states)


def broadcast_state(state: "State", size: int) -> "State":
    """One row's state (unbatched, as `model(...)` returns it) copied to a batch of `size`."""
    if not (isinstance(size, int) and size >= 1):
        raise InputError(f"size must be an integer ≥ 1, got {size!r}")
    return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (size, *jnp.shape(leaf))), state)


def state_after(history: "History", n: Int[Array, ""] | int) -> "State":
    """The state after the first `n` tokens of the chunk that `model(tokens, segment_pos,
    state, history=True)` ran (0: `state` itself): a rollback, with no model call. For a
    batch, `jax.vmap` it with one `n` per row."""
    return tuple(block.state_after(n) for block in history)
