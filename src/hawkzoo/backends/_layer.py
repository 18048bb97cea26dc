"""The layer tier of the backend choice: a scan backend carried as a layer's field."""

import equinox as eqx
import jax

from ._base import AbstractScanBackend
from ._registry import get


class AbstractScanLayer(eqx.Module):
    """A layer that runs [`linear_scan`][hawkzoo.backends.linear_scan] with its own
    `backend` field: None follows [`use`][hawkzoo.backends.use], the environment and
    `auto`; a backend wins over all three.

    The field is part of the model's PyTree structure (a backend holds no arrays), so a
    jitted function retraces when [`set_backend`][hawkzoo.backends.set_backend] changes it.
    """

    backend: eqx.AbstractVar[AbstractScanBackend | None]


def set_backend[T](tree: T, backend: str | AbstractScanBackend | None) -> T:
    """`tree` (a model, or any PyTree of layers) with the `backend` field of every
    [`AbstractScanLayer`][hawkzoo.backends.AbstractScanLayer] in it set to `backend`: a
    registered name, an instance, or None to follow the current default again."""
    chosen = None if backend is None else get(backend)

    def fields(tree) -> list:  # called on `tree` and on equinox's stand-in for it
        layers = jax.tree.leaves(tree, is_leaf=_is_layer)
        return [layer.backend for layer in layers if _is_layer(layer)]

    return eqx.tree_at(
        fields,
        tree,
        replace=[chosen] * len(fields(tree)),
        is_leaf=lambda node: node is None or isinstance(node, AbstractScanBackend),
    )


def _is_layer(node) -> bool:
    return isinstance(node, AbstractScanLayer)
