"""hawkzoo checkpoints (a config and an Orbax tree) and official Flax checkpoint folders."""

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import shutil
import sys
import uuid
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ..distributed import barrier, is_main_process, shared_token
from ..errors import CheckpointError, ExistingPathError, InputError
from ..model import LanguageModel, ModelConfig, is_quantized, quantize
from ._flax import from_flax, to_flax
from ._integrity import CHECKSUMS_FILE, verify, write_checksums

CONFIG_FILE = "config.json"
PARAMS_FOLDER = "params"
FORMAT = "hawkzoo-checkpoint/2"
UNCHECKED_FORMAT = "hawkzoo-checkpoint/1"
"""Written before checksums: still read, unverified, with a warning."""


def save(path: str | os.PathLike, model: LanguageModel) -> pathlib.Path:
    """Save `model` to the folder `path`: `config.json` and `params/`, an Orbax tree in the
    official Flax layout (so `recurrentgemma.jax.utils.load_parameters` reads it too).

    Atomic: the checkpoint is written beside `path` and moved in place only once complete,
    so a crash or a full disk mid-save leaves the previous checkpoint at `path` whole (the
    next save or load puts back one that a crash left set aside). A folder at `path` that
    is not a hawkzoo checkpoint is never replaced. Last, `checksums.json` records every
    file's size and SHA-256, and every load checks them first.

    With several processes (see [`hawkzoo.distributed`](../api/distributed.md)), every
    one calls it: each writes the shards it holds into one staging folder, and process 0
    writes the rest and moves it in place.
    """
    path = pathlib.Path(path).absolute()
    if path.exists() and not is_checkpoint(path):
        raise ExistingPathError(f"{path} exists and is not a hawkzoo checkpoint: not replacing it")
    staging = path.parent / f".{path.name}.saving-{shared_token()}"
    main = is_main_process()
    try:
        if main:
            _make_staging(path, staging)
        barrier("hawkzoo: checkpoint staging made")
        config = {"format": FORMAT, "config": dataclasses.asdict(model.config)}
        if is_quantized(model):
            write_tree(staging / PARAMS_FOLDER, {QUANTIZED: _by_path(model)})
            config["quantization"] = "int8"
        else:
            write_tree(staging / PARAMS_FOLDER, {"params": to_flax(model)})
        if main:
            (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
            write_checksums(staging)
            _move_into_place(staging, path)
        barrier("hawkzoo: checkpoint saved")
    except BaseException:
        if main:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def _make_staging(path: pathlib.Path, staging: pathlib.Path) -> None:
    """Put back a checkpoint a crashed save set aside, clear what crashed saves left, and
    make the empty `staging` folder."""
    recover(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in [
        *path.parent.glob(f".{path.name}.saving-*"),
        *path.parent.glob(f".{path.name}.replaced-*"),
    ]:
        shutil.rmtree(stale, ignore_errors=True)
    staging.mkdir()


def write_tree(path: pathlib.Path, tree: Mapping[str, Any]) -> None:
    """Write an Orbax tree; any failure is an `OSError` (Orbax reports a full disk as a
    `ValueError`)."""
    import orbax.checkpoint as ocp

    try:
        with quiet():
            ocp.PyTreeCheckpointer().save(pathlib.Path(path).absolute(), _global(tree))
    except OSError:
        raise
    except Exception as error:
        raise OSError(f"writing {path} failed: {error}") from error


def _global(tree: Mapping[str, Any]) -> Mapping[str, Any]:
    """With several processes, the arrays each holds whole as NumPy, which process 0
    alone writes (Orbax writes a jax.Array's shards from every process that holds one)."""
    if jax.process_count() == 1:
        return tree
    return jax.tree.map(
        lambda a: np.asarray(a) if isinstance(a, jax.Array) and a.is_fully_addressable else a, tree
    )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Orbax logs a failed write from each of its threads, and the callbacks left behind
    print tracebacks; the error raised says it once."""
    logger, hook = logging.getLogger("absl"), sys.unraisablehook
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    sys.unraisablehook = lambda _: None
    try:
        yield
    finally:
        logger.setLevel(level)
        sys.unraisablehook = hook


def _move_into_place(staging: pathlib.Path, path: pathlib.Path) -> None:
    """Rename `staging` to `path`; an old `path` is set aside first and deleted after (if
    the process dies in between, `load` finds it set aside and puts it back)."""
    if not path.exists():
        staging.rename(path)
        return
    replaced = path.parent / f".{path.name}.replaced-{uuid.uuid4().hex[:8]}"
    path.rename(replaced)
    staging.rename(path)
    shutil.rmtree(replaced, ignore_errors=True)


def is_checkpoint(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by [`save`][hawkzoo.checkpoints.save]."""
    path = pathlib.Path(path)
    return (path / CONFIG_FILE).is_file() and (path / PARAMS_FOLDER).is_dir()


def load_orbax(path: pathlib.Path, config: ModelConfig | None = None, **fields) -> LanguageModel:
    """A model from a hawkzoo checkpoint folder or an official Flax (Orbax) folder."""
    if is_checkpoint(path):
        verify_checkpoint(path)
        if _saved_field(path, "quantization") is not None:
            if config is not None or fields:
                raise InputError(
                    f"{path} holds an int8 model (hawkzoo.quantize): it loads as saved, "
                    "without a config or fields to change"
                )
            return _quantized(
                read_tree(path / PARAMS_FOLDER)[QUANTIZED], read_config(path / CONFIG_FILE)
            )
        if config is None:
            config = read_config(path / CONFIG_FILE)
        return from_flax(read_tree(path / PARAMS_FOLDER), config, **fields)
    return from_flax(read_tree(path), config, **fields)


def verify_checkpoint(path: pathlib.Path, only: list[str] | None = None) -> None:
    """Check the files of the hawkzoo checkpoint at `path` (or those in `only`) against
    their saved checksums; a `CheckpointError` names the first that differs."""
    if not (path / CHECKSUMS_FILE).exists() and _saved_field(path, "format") == UNCHECKED_FORMAT:
        warnings.warn(f"{path} predates checksums: loading it unverified", stacklevel=3)
        return
    verify(path, only)


def recover(path: pathlib.Path) -> None:
    """Put back a checkpoint set aside by a save that died before moving its own in."""
    path = pathlib.Path(path).absolute()
    if path.exists():
        return
    set_aside = sorted(path.parent.glob(f".{path.name}.replaced-*"))
    if set_aside:  # one at most: every save clears what earlier ones left
        set_aside[0].rename(path)


QUANTIZED = "int8"
"""The params tree of an int8 model: its arrays by their path in the model."""


def _by_path(model: LanguageModel) -> dict[str, Any]:
    arrays = jax.tree_util.tree_leaves_with_path(eqx.filter(model, _is_array))
    return {jax.tree_util.keystr(path): leaf for path, leaf in arrays}


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, jax.Array | jax.ShapeDtypeStruct)


def _quantized(saved: Mapping[str, Any], config: ModelConfig) -> LanguageModel:
    """The int8 model of `config` with the arrays saved by path."""
    like = eqx.filter_eval_shape(lambda: quantize(LanguageModel(config, key=jax.random.key(0))))
    arrays, rest = eqx.partition(like, _is_array)
    expected = _by_path(like)
    if set(saved) != set(expected):
        raise CheckpointError(f"the int8 arrays saved do not fit their config ({config})")
    leaves = [jax.numpy.asarray(saved[name], dtype=expected[name].dtype) for name in expected]
    return eqx.combine(jax.tree.unflatten(jax.tree.structure(arrays), leaves), rest)


def _saved_field(path: pathlib.Path, name: str) -> object:
    """A top-level field of the checkpoint's `config.json`; None if it cannot say."""
    try:
        return json.loads((path / CONFIG_FILE).read_text()).get(name)
    except (ValueError, AttributeError):
        return None


def read_config(path: pathlib.Path) -> ModelConfig:
    try:
        saved = json.loads(path.read_text())
        if saved.get("format") not in (FORMAT, UNCHECKED_FORMAT):
            raise ValueError(f"format {saved.get('format')!r}, expected {FORMAT!r}")
        return ModelConfig(**saved["config"])
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise CheckpointError(f"{path} is not a readable hawkzoo config: {error}") from None


def read_tree(path: pathlib.Path) -> Mapping[str, Any]:
    """An Orbax parameter tree, every array on the default device."""
    import orbax.checkpoint as ocp

    path = pathlib.Path(path).absolute()
    checkpointer = ocp.PyTreeCheckpointer()
    try:
        with quiet():
            metadata = checkpointer.metadata(path).item_metadata
            if metadata is None:
                raise ValueError("it has no tree metadata")
            device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            restore_args = jax.tree.map(
                lambda _: ocp.ArrayRestoreArgs(restore_type=jax.Array, sharding=device),
                metadata.tree,
            )
            return checkpointer.restore(path, restore_args=restore_args)
    except Exception as error:  # Orbax raises bare `Exception`s too
        raise CheckpointError(f"{path} is not a readable Orbax checkpoint: {error}") from None
